"""The consumer of `documents.incoming`: valid documents take the REST path, the rest is
dead-lettered, and offsets are committed only once every message of a batch is settled.

Settled means stored and published, or dead-lettered. An outage (the store or the broker is
down) is not the message's fault: the batch is left uncommitted, the consumer backs off and
reads it again. Redelivered documents are duplicates by content hash, so nothing is stored
twice. An unexpected error is retried a few times, then dead-lettered so the partition moves.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from enum import Enum
from typing import Any, TypeAlias

from aiokafka import ConsumerRecord
from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaMessage
from faststream.message import StreamMessage
from opentelemetry import trace

from docflow.common.context import bound_request_id, request_id_from_headers
from docflow.common.errors import DocflowError
from docflow.common.events import Topic
from docflow.common.kafka import SourcePosition, publish_dead_letter
from docflow.common.metrics import KAFKA_MESSAGES
from docflow.common.telemetry import traced_record
from docflow.ingest.documents.service import ingest_document
from docflow.ingest.documents.store import DocumentStore
from docflow.ingest.settings import IngestSettings
from docflow.ingest.upstream.parsing import Rejected, parse_incoming

logger = logging.getLogger(__name__)

Record: TypeAlias = ConsumerRecord  # aiokafka ships no type hints
Position = tuple[str, int, int]
_MAX_TRACKED = 10_000  # retry bookkeeping is bounded; forgetting only resets a counter
_tracer = trace.get_tracer(__name__)


class Outcome(Enum):
    SETTLED = "settled"
    RETRY = "retry"


class IncomingProcessor:
    def __init__(
        self,
        *,
        settings: IngestSettings,
        broker: KafkaBroker,
        store: DocumentStore,
    ) -> None:
        self.settings = settings
        self.broker = broker
        self.store = store
        self.topic = settings.topic(Topic.INCOMING)
        self._gate = asyncio.Semaphore(settings.incoming_concurrency)
        self._retries: dict[Position, int] = {}
        self._failed_rounds = 0

    async def process(self, records: tuple[Record, ...]) -> bool:
        """True when every record is settled; False when the batch must be read again."""
        outcomes = await asyncio.gather(*(self._gated(record) for record in records))
        if all(outcome is Outcome.SETTLED for outcome in outcomes):
            self._failed_rounds = 0
            return True
        self._failed_rounds += 1
        return False

    def backoff_s(self) -> float:
        exponent = max(0, self._failed_rounds - 1)
        return float(
            min(
                self.settings.incoming_retry_base_s * 2**exponent,
                self.settings.incoming_retry_max_s,
            )
        )

    async def _gated(self, record: Record) -> Outcome:
        async with self._gate:
            headers = dict(record.headers or ())
            # Each message in its upstream producer's trace (when it carries one).
            with traced_record(_tracer, record), bound_request_id(request_id_from_headers(headers)):
                outcome = await self._process_one(record)
        KAFKA_MESSAGES.labels(
            self.settings.service_name,
            self.topic,
            "processed" if outcome is Outcome.SETTLED else "redelivered",
        ).inc()
        return outcome

    async def _process_one(self, record: Record) -> Outcome:
        position = (record.topic, record.partition, record.offset)
        try:
            incoming = parse_incoming(record.value, settings=self.settings)
        except Rejected as rejected:
            return await self._dead_letter(record, rejected.code, rejected.message)
        try:
            outcome = await ingest_document(
                document=incoming.document,
                tenant_id=incoming.tenant_id,
                origin="kafka",
                settings=self.settings,
                store=self.store,
                # Not counted: upstream producers are trusted, and a refusal could only be
                # dead-lettered (README, "Tenants").
                quota=None,
                # The offset is committed next: the event must be out first.
                await_publish=True,
                # A redelivery publishes a stored-but-unpublished document at once.
                republish_pending=position in self._retries,
            )
        except DocflowError as exc:
            if exc.status_code >= 500:  # an outage: read the message again later
                return self._retry(position, reason=exc.code, counted=False)
            return await self._dead_letter(record, exc.code, exc.message)
        except Exception as exc:
            logger.exception("unexpected error on an incoming message")
            if self._retry_count(position) + 1 >= self.settings.incoming_max_attempts:
                return await self._dead_letter(
                    record, "processing_error", f"Processing failed: {type(exc).__name__}"
                )
            return self._retry(position, reason=type(exc).__name__, counted=True)
        if not outcome.published:
            return self._retry(position, reason="publish_failed", counted=False)
        self._retries.pop(position, None)
        return Outcome.SETTLED

    def _retry_count(self, position: Position) -> int:
        return self._retries.get(position, 0)

    def _retry(self, position: Position, *, reason: str, counted: bool) -> Outcome:
        if len(self._retries) > _MAX_TRACKED:
            self._retries.clear()
        self._retries[position] = self._retry_count(position) + (1 if counted else 0)
        logger.warning("incoming message will be redelivered", extra={"reason": reason})
        return Outcome.RETRY

    async def _dead_letter(self, record: Record, error_type: str, message: str) -> Outcome:
        try:
            await publish_dead_letter(
                self.broker,
                self.settings,
                payload=record.value or b"",
                key=record.key,
                error_type=error_type,
                error_message=message,
                source=SourcePosition(record.topic, record.partition, record.offset),
            )
        except Exception as exc:
            logger.warning("dead-lettering failed", extra={"error": type(exc).__name__})
            return Outcome.RETRY
        self._retries.pop((record.topic, record.partition, record.offset), None)
        return Outcome.SETTLED


async def tolerant_parser(
    records: tuple[Record, ...],
    original: Callable[[tuple[Record, ...]], Awaitable[StreamMessage[Any]]],
) -> StreamMessage[Any]:
    """FastStream decodes every header value as UTF-8 text, and fails on a null one (which
    Kafka allows): one such header would wedge the partition, so it reads a text view."""
    return await original(tuple(_with_text_headers(record) for record in records))


def _with_text_headers(record: Record) -> Record:
    headers = record.headers or ()
    if all(_is_text(value) for _, value in headers):
        return record
    return ConsumerRecord(
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        timestamp=record.timestamp,
        timestamp_type=record.timestamp_type,
        key=record.key,
        value=record.value,
        checksum=record.checksum,
        serialized_key_size=record.serialized_key_size,
        serialized_value_size=record.serialized_value_size,
        headers=tuple((name, _as_text(value)) for name, value in headers),
    )


def _is_text(value: bytes | None) -> bool:
    if value is None:
        return False
    try:
        value.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _as_text(value: bytes | None) -> bytes:
    """A null value reads as empty; invalid UTF-8 with replacement characters."""
    if value is None:
        return b""
    return value if _is_text(value) else value.decode("utf-8", "replace").encode()


async def raw_decoder(message: StreamMessage[Any]) -> Any:
    """Hand the handler the raw bytes: parsing and its failures are ours to report."""
    return message.body


def register_incoming(broker: KafkaBroker, processor: IncomingProcessor) -> None:
    settings = processor.settings

    @broker.subscriber(
        processor.topic,
        group_id=settings.consumer_group,
        batch=True,
        max_records=settings.incoming_max_records,
        batch_timeout_ms=settings.incoming_batch_timeout_ms,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.MANUAL,
        parser=tolerant_parser,
        decoder=raw_decoder,
        include_in_schema=False,  # the AsyncAPI document describes the contract instead
    )
    async def handle_incoming(body: list[bytes], message: KafkaMessage) -> None:
        records: tuple[Record, ...] = message.raw_message
        if await processor.process(records):
            await message.ack()
            return
        await asyncio.sleep(processor.backoff_s())
        await message.nack()

"""The one way a document's events reach Kafka: keyed by document id, murmur2-partitioned,
many at a time, each acknowledged by every in-sync replica or reported as not published.

Ingest's outbox and analysis's resume command both publish DocumentIngested through
`ingested_publisher`, so a document's events land on one partition whoever sends them, and in
order. The partition is Kafka's default (murmur2 of the key, the Java client's and aiokafka's
`send`), so any other producer of the same keys agrees with it too.

Events go out through a bare aiokafka producer (acks=all, idempotent) rather than FastStream's
`broker.publish`: one event per stored document, FastStream's wrapper cost about three times
aiokafka's own `send` in CPU (tests/perf/bench_ingest.py). Each call fills one record batch
per partition and submits it whole (`send_batch`), which is why the partition is chosen here
and not by the producer.

No instrumentation covers record batches (opentelemetry-instrumentation-aiokafka wraps `send`
only), so the producer spans are made here: each event is sent under a span of the trace of
the request or message that stored its document (the context it carries, `trace_headers`),
and that span's W3C context goes in the record's headers.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.producer.message_accumulator import BatchBuilder
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind

from docflow.common.clients import create_producer
from docflow.common.events import REQUEST_ID_HEADER, DocumentAnalyzed, DocumentIngested, Topic
from docflow.common.settings import CommonSettings
from docflow.common.telemetry import TraceHeaders, context_from_headers, current_trace_headers

logger = logging.getLogger(__name__)

DocumentEvent = DocumentIngested | DocumentAnalyzed

_JSON = ("content-type", b"application/json")
# murmur2 as the Java client computes it; pure Python, 7-14 us a key (README, "Delivery").
_partitioner = DefaultPartitioner()


def partition_for(key: bytes, partitions: Sequence[int]) -> int:
    """The partition Kafka's default partitioner gives `key` among `partitions` (sorted)."""
    partition: int = _partitioner(key, partitions, partitions)
    return partition


@dataclass(frozen=True, slots=True)
class OutgoingEvent:
    event: DocumentEvent
    request_id: str  # of the request or message that stored the document
    # Its trace context (`current_trace_headers()` where it was stored); empty: untraced.
    trace_headers: TraceHeaders = ()

    @property
    def document_id(self) -> str:
        return self.event.document_id


class EventPublisher:
    """Publishes events to one topic, bounded in time so an unreachable broker hangs nothing."""

    def __init__(
        self,
        producer: AIOKafkaProducer,
        *,
        topic: str,
        timeout_s: float,
        tracer_provider: trace.TracerProvider | None = None,  # default: the process's
    ) -> None:
        self.producer = producer
        self.topic = topic
        self.timeout_s = timeout_s
        self._tracer = trace.get_tracer(__name__, tracer_provider=tracer_provider)

    async def start(self) -> None:
        await self.producer.start()

    async def stop(self) -> None:
        await self.producer.stop()

    async def publish_many(self, events: Sequence[OutgoingEvent]) -> list[bool]:
        """Per event, in order: True once the broker acknowledged it, False when it did not.

        A False may still reach Kafka later (a timeout is not a refusal); the caller publishes
        it again, and consumers are idempotent per document id.
        """
        spans = [self._producer_span(outgoing) for outgoing in events]
        try:
            # asyncio.timeout, not wait_for: no extra task on this hot path.
            async with asyncio.timeout(self.timeout_s):
                batch_of_event, acknowledgements = await self._send(events, spans)
                results = await asyncio.gather(*acknowledgements, return_exceptions=True)
        except Exception as exc:
            logger.warning(
                "publishing events failed",
                extra={"topic": self.topic, "events": len(events), "error": type(exc).__name__},
            )
            _end_spans(spans, error=exc)
            return [False] * len(events)
        failures = [result for result in results if isinstance(result, BaseException)]
        if failures:
            logger.warning(
                "publishing events failed",
                extra={
                    "topic": self.topic,
                    "batches": len(failures),
                    "error": type(failures[0]).__name__,
                },
            )
        for span, batch in zip(spans, batch_of_event, strict=True):
            _end_spans([span], error=results[batch])
        return [not isinstance(results[batch], BaseException) for batch in batch_of_event]

    async def publish_all(self, events: Sequence[OutgoingEvent], *, chunk: int = 500) -> int:
        """How many of `events` the broker acknowledged, published `chunk` at a time so that a
        command re-queueing thousands of documents holds a bounded batch in memory."""
        acknowledged = 0
        for start in range(0, len(events), chunk):
            acknowledged += sum(await self.publish_many(events[start : start + chunk]))
        return acknowledged

    def _producer_span(self, outgoing: OutgoingEvent) -> Span | None:
        """The span its event is sent under, in its document's trace (None when untraced)."""
        if not outgoing.trace_headers:
            return None
        return self._tracer.start_span(
            f"{self.topic} publish",
            context=context_from_headers(outgoing.trace_headers),
            kind=SpanKind.PRODUCER,
            attributes={
                "messaging.system": "kafka",
                "messaging.operation.type": "send",
                "messaging.destination.name": self.topic,
                "messaging.kafka.message.key": outgoing.document_id,
            },
        )

    async def _send(
        self, events: Sequence[OutgoingEvent], spans: Sequence[Span | None]
    ) -> tuple[list[int], list[asyncio.Future[object]]]:
        """Fill record batches per partition and hand each to the producer.

        Returns, per event, the index of its batch, and per batch the future that resolves on
        the broker's acknowledgement.
        """
        partitions = sorted(await self.producer.partitions_for(self.topic))
        by_partition: dict[int, list[int]] = {}
        records = []
        for position, outgoing in enumerate(events):
            key = outgoing.document_id.encode()
            headers = [(REQUEST_ID_HEADER, outgoing.request_id.encode()), _JSON]
            if (span := spans[position]) is not None:
                with trace.use_span(span, end_on_exit=False):
                    headers.extend(current_trace_headers())
            records.append((key, outgoing.event.model_dump_json().encode(), headers))
            by_partition.setdefault(partition_for(key, partitions), []).append(position)

        acknowledgements: list[asyncio.Future[object]] = []
        batch_of_event = [0] * len(events)
        for partition, positions in by_partition.items():
            batch = self.producer.create_batch()
            for position in positions:
                key, value, headers = records[position]
                if batch.append(key=key, value=value, timestamp=None, headers=headers) is None:
                    # Full: send it and start the next (a first record always fits).
                    acknowledgements.append(await self._submit(batch, partition))
                    batch = self.producer.create_batch()
                    batch.append(key=key, value=value, timestamp=None, headers=headers)
                batch_of_event[position] = len(acknowledgements)
            acknowledgements.append(await self._submit(batch, partition))
        return batch_of_event, acknowledgements

    async def _submit(self, batch: BatchBuilder, partition: int) -> asyncio.Future[object]:
        future: asyncio.Future[object] = await self.producer.send_batch(
            batch, self.topic, partition=partition
        )
        return future


def _end_spans(spans: Sequence[Span | None], *, error: object) -> None:
    for span in spans:
        if span is None:
            continue
        if isinstance(error, BaseException):
            span.record_exception(error)
            span.set_status(trace.StatusCode.ERROR, type(error).__name__)
        span.end()


def ingested_publisher(settings: CommonSettings, *, timeout_s: float) -> EventPublisher:
    """The publisher of DocumentIngested, with a producer of its own (start it, then stop it)."""
    return EventPublisher(
        create_producer(settings), topic=settings.topic(Topic.INGESTED), timeout_s=timeout_s
    )

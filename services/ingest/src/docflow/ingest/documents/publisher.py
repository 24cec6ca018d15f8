"""Publishing DocumentIngested, many events at a time, bounded in time so an unreachable broker
cannot hang anything.

Events go out through an aiokafka producer of their own (acks=all, idempotent, like every
docflow producer) rather than FastStream's `broker.publish`: on this path, one event per
stored document, FastStream's wrapper cost about three times aiokafka's own `send` in CPU
(measured with tests/perf/bench_ingest.py). The records are what `publish_event` would send:
the JSON event, keyed by document id, with the correlation id and content-type headers.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaProducer

from docflow.common.events import REQUEST_ID_HEADER, DocumentIngested, Topic
from docflow.ingest.settings import IngestSettings

logger = logging.getLogger(__name__)

_JSON = ("content-type", b"application/json")


@dataclass(frozen=True, slots=True)
class OutgoingEvent:
    document_id: str
    tenant_id: str
    content_hash: str
    request_id: str  # of the request or message that stored the document


class IngestedPublisher:
    def __init__(self, producer: AIOKafkaProducer, settings: IngestSettings) -> None:
        self.producer = producer
        self.settings = settings
        self.topic = settings.topic(Topic.INGESTED)

    async def publish_many(self, events: Sequence[OutgoingEvent]) -> list[bool]:
        """Per event, in order: True once the broker acknowledged it, False when it did not.

        A False may still reach Kafka later (a timeout is not a refusal); the caller publishes
        it again, and consumers are idempotent per document id.
        """
        try:
            # asyncio.timeout, not wait_for: no extra task on this hot path.
            async with asyncio.timeout(self.settings.publish_timeout_s):
                acknowledgements = [await self._send(event) for event in events]
                results = await asyncio.gather(*acknowledgements, return_exceptions=True)
        except Exception as exc:
            # The documents stay stored; the outbox publishes them again.
            logger.warning(
                "publishing DocumentIngested failed",
                extra={"events": len(events), "error": type(exc).__name__},
            )
            return [False] * len(events)
        failures = [result for result in results if isinstance(result, BaseException)]
        if failures:
            logger.warning(
                "publishing DocumentIngested failed",
                extra={"events": len(failures), "error": type(failures[0]).__name__},
            )
        return [not isinstance(result, BaseException) for result in results]

    async def _send(self, event: OutgoingEvent) -> asyncio.Future[object]:
        """Queue one record in the producer's batch; the future resolves on acknowledgement."""
        payload = DocumentIngested(
            document_id=event.document_id,
            tenant_id=event.tenant_id,
            content_hash=event.content_hash,
        )
        future: asyncio.Future[object] = await self.producer.send(
            self.topic,
            payload.model_dump_json().encode(),
            key=event.document_id.encode(),
            headers=[(REQUEST_ID_HEADER, event.request_id.encode()), _JSON],
        )
        return future

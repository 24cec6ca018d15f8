"""Publishing DocumentIngested, many events at a time, bounded in time so an unreachable broker
cannot hang anything.

Events go out through an aiokafka producer of their own (acks=all, idempotent, like every
docflow producer) rather than FastStream's `broker.publish`: on this path, one event per
stored document, FastStream's wrapper cost about three times aiokafka's own `send` in CPU
(measured with tests/perf/bench_ingest.py). The records are what `publish_event` would send:
the JSON event, keyed by document id, with the correlation id and content-type headers.

Each call fills one record batch per partition and submits it whole (`send_batch`), which
also spares the per-record partitioner: aiokafka's murmur2 is pure Python (~14 us a key).
The partition is crc32(document id) modulo the partition count instead: still one partition
per document, so its events stay in order (ingest is the only producer of this topic).
"""

from __future__ import annotations

import asyncio
import logging
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaProducer
from aiokafka.producer.message_accumulator import BatchBuilder

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
                batch_of_event, acknowledgements = await self._send(events)
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
                extra={"batches": len(failures), "error": type(failures[0]).__name__},
            )
        return [not isinstance(results[batch], BaseException) for batch in batch_of_event]

    async def _send(
        self, events: Sequence[OutgoingEvent]
    ) -> tuple[list[int], list[asyncio.Future[object]]]:
        """Fill record batches per partition and hand each to the producer.

        Returns, per event, the index of its batch, and per batch the future that resolves on
        the broker's acknowledgement.
        """
        partitions = sorted(await self.producer.partitions_for(self.topic))
        by_partition: dict[int, list[int]] = {}
        records = []
        for position, event in enumerate(events):
            key = event.document_id.encode()
            payload = DocumentIngested(
                document_id=event.document_id,
                tenant_id=event.tenant_id,
                content_hash=event.content_hash,
            )
            headers = [(REQUEST_ID_HEADER, event.request_id.encode()), _JSON]
            records.append((key, payload.model_dump_json().encode(), headers))
            partition = partitions[zlib.crc32(key) % len(partitions)]
            by_partition.setdefault(partition, []).append(position)

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

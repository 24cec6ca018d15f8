"""Both producers of DocumentIngested put a document's events on the same partition.

Ingest's outbox and analysis's resume command publish through stand-in producers that record
where each record goes; the partition must be the same for the same document id, and the one
Kafka's Java client would pick, so any other producer of these keys agrees too.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import pytest

from docflow.analysis.analyses.resume import republish_deferred
from docflow.common.events import Topic, utc_now
from docflow.common.publishing import EventPublisher, partition_for
from docflow.ingest.documents.outbox import Outbox
from docflow.ingest.settings import IngestSettings

pytestmark = pytest.mark.unit

PARTITIONS = 6
# Computed with kafka-clients 4.4.0: Utils.toPositive(Utils.murmur2(key)) % 6.
JAVA_CLIENT_PARTITIONS = {
    "0123456789abcdef0123456789abcdef": 5,
    "5f2b9c0e1a7d4e3f8a6b2c1d0e9f8a7b": 3,
    "ffffffffffffffffffffffffffffffff": 5,
    "d1": 1,
}


class RecordedBatch:
    def __init__(self) -> None:
        self.keys: list[bytes] = []

    def append(self, *, key: bytes, value: bytes, timestamp: None, headers: Any) -> object:
        self.keys.append(key)
        return object()  # aiokafka returns the record's metadata; None would mean "full"


class RecordingProducer:
    """Answers like aiokafka's producer and remembers the partition of every key."""

    def __init__(self) -> None:
        self.partition_of: dict[str, int] = {}

    async def partitions_for(self, topic: str) -> set[int]:
        return set(range(PARTITIONS))

    def create_batch(self) -> RecordedBatch:
        return RecordedBatch()

    async def send_batch(
        self, batch: RecordedBatch, topic: str, *, partition: int
    ) -> asyncio.Future[object]:
        for key in batch.keys:
            self.partition_of[key.decode()] = partition
        acknowledged: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        acknowledged.set_result(None)
        return acknowledged


def publisher(producer: RecordingProducer) -> EventPublisher:
    return EventPublisher(producer, topic=Topic.INGESTED.value, timeout_s=5)


def stored(document_id: str, created_at: datetime) -> dict[str, Any]:
    return {"_id": document_id, "tenant_id": "t", "content_hash": "h", "created_at": created_at}


async def published_by_outbox(document_ids: list[str]) -> dict[str, int]:
    producer = RecordingProducer()
    outbox = Outbox(
        repository=None,  # type: ignore[arg-type]  # publishing alone never reaches the store
        publisher=publisher(producer),
        settings=IngestSettings(),
    )
    now = utc_now()
    for document_id in document_ids:
        assert await outbox.publish(stored(document_id, now))
    return producer.partition_of


async def published_by_resume(document_ids: list[str]) -> dict[str, int]:
    producer = RecordingProducer()

    async def budget_left(tenant_id: str) -> bool:
        return False

    deferred = [stored(document_id, utc_now()) for document_id in document_ids]
    count = await republish_deferred(
        deferred, budget_spent=budget_left, publisher=publisher(producer)
    )
    assert count == len(document_ids)
    return producer.partition_of


async def test_the_outbox_and_the_resume_command_pick_the_same_partition() -> None:
    document_ids = list(JAVA_CLIENT_PARTITIONS)
    assert await published_by_outbox(document_ids) == await published_by_resume(document_ids)


async def test_the_partition_is_the_java_clients_default() -> None:
    assert await published_by_resume(list(JAVA_CLIENT_PARTITIONS)) == JAVA_CLIENT_PARTITIONS
    for key, partition in JAVA_CLIENT_PARTITIONS.items():
        assert partition_for(key.encode(), range(PARTITIONS)) == partition

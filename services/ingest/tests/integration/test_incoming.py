"""The `documents.incoming` consumer on the real stack: an ordinary Kafka client publishes."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Any

import orjson
import pytest
from aiokafka import ConsumerRecord
from aiokafka.admin import AIOKafkaAdminClient

from docflow.common.events import DeadLetterHeader, Topic, utc_now
from docflow.ingest.deps import services_of
from docflow.ingest.settings import IngestSettings
from docflow.testing import Isolation, collect_messages, produce_raw

pytestmark = pytest.mark.integration


def malformed_messages(settings: IngestSettings) -> dict[bytes, str]:
    """Each malformed message and the `error.type` its dead letter must carry."""
    oversized = orjson.dumps({"content": "x" * (settings.max_content_chars + 1)})
    return {
        b'{"content": "unterminated': "invalid_json",
        b'{"title": "no content field"}': "validation_error",
        b'{"content": " \\u0000 <script>x()</script> "}': "empty_content",
        oversized: "content_too_large",
        b'{"content": "caf\xe9"}': "invalid_utf8",
    }


async def committed_offsets(group_id: str, topic: str) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers="127.0.0.1:9092")
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group_id)
    finally:
        await admin.close()
    return sum(meta.offset for tp, meta in offsets.items() if tp.topic == topic and meta.offset > 0)


async def wait_for(predicate: Any, *, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if await predicate():
            return True
        await asyncio.sleep(0.25)
    return False


def headers_of(record: ConsumerRecord[bytes, bytes]) -> dict[str, str]:
    return {name: value.decode() for name, value in record.headers}


@pytest.mark.slow
async def test_valid_messages_are_stored_and_malformed_ones_dead_lettered(
    app: Any,
    settings: IngestSettings,
    isolation: Isolation,
    documents: Any,
    ingested_events: Any,
    settled: Any,
) -> None:
    incoming = isolation.topic(Topic.INCOMING)
    valid = [
        orjson.dumps({"content": f"Upstream document number {i}.", "source": "erp"})
        for i in range(50)
    ]
    malformed = malformed_messages(settings)
    # Malformed messages interleaved with valid ones: none may hold up the others.
    values = valid[:25] + list(malformed) + valid[25:]
    await produce_raw(incoming, values, headers=[("x-request-id", b"upstream-batch-1")])

    events = await ingested_events(count=50, timeout_s=60)
    assert len(events) == 50
    letters = await collect_messages(isolation.topic(Topic.DLQ), count=5, timeout_s=30)
    assert len(letters) == 5

    assert await documents.count_documents({}) == 50
    assert await documents.count_documents({"origin": "kafka"}) == 50
    assert await settled()
    stored_ids = {doc["_id"] async for doc in documents.find({}, {"_id": 1})}
    assert {record.key.decode() for record in events} == stored_ids

    for letter in letters:
        headers = headers_of(letter)
        assert letter.value in malformed, "the dead letter carries the original bytes"
        assert headers[DeadLetterHeader.ERROR_TYPE] == malformed[letter.value]
        assert headers[DeadLetterHeader.ERROR_MESSAGE]
        assert headers[DeadLetterHeader.SOURCE_TOPIC] == incoming
        assert int(headers[DeadLetterHeader.SOURCE_PARTITION]) in range(6)
        assert int(headers[DeadLetterHeader.SOURCE_OFFSET]) >= 0
        assert headers["x-request-id"] == "upstream-batch-1"

    async def all_committed() -> bool:
        return await committed_offsets(settings.consumer_group, incoming) == 55

    assert await wait_for(all_committed, timeout_s=15), "every offset is committed"


async def test_a_redelivered_message_is_a_harmless_duplicate(
    app: Any, isolation: Isolation, documents: Any, ingested_events: Any
) -> None:
    message = orjson.dumps({"content": "Delivered twice by an at-least-once producer."})
    await produce_raw(isolation.topic(Topic.INCOMING), [message, message])

    async def stored() -> bool:
        return bool(await documents.count_documents({}) == 1)

    assert await wait_for(stored, timeout_s=30)
    assert len(await ingested_events(count=2, timeout_s=5)) == 1


async def test_the_outbox_of_a_replica_that_died_is_republished(
    app: Any, documents: Any, outbox: Any, ingested_events: Any, payload_of: Any
) -> None:
    now = utc_now()
    # A replica that stopped checkpointing a while ago: everything it stored after its last
    # `safe_before` may lack its event; what it stored before that was acknowledged.
    await outbox.insert_one(
        {
            "_id": "deadreplica",
            "safe_before": now - timedelta(minutes=5),
            "heartbeat": now - timedelta(minutes=4),
        }
    )
    base = {"status": "queued", "tenant_id": "default", "ingested_by": "deadreplica"}
    await documents.insert_many(
        [
            {
                **base,
                "_id": "unsure",
                "content_hash": "a" * 64,
                "created_at": now - timedelta(minutes=4),
            },
            {
                **base,
                "_id": "acked",
                "content_hash": "b" * 64,
                "created_at": now - timedelta(minutes=6),
            },
        ]
    )
    events = await ingested_events(count=2, timeout_s=10)
    assert [record.key for record in events] == [b"unsure"]
    assert payload_of(events[0])["content_hash"] == "a" * 64

    async def checkpoint_gone() -> bool:
        return await outbox.find_one({"_id": "deadreplica"}) is None

    assert await wait_for(checkpoint_gone, timeout_s=10)
    # The live replica keeps its own checkpoint fresh.
    mine = await outbox.find_one({"_id": services_of(app).store.outbox.replica_id})
    assert mine is not None
    assert mine["heartbeat"] > now - timedelta(seconds=5)

"""The client factories and Kafka helpers against the real Kafka, FerretDB and Redis."""

from __future__ import annotations

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from docflow.common.clients import (
    create_broker,
    create_mongo_client,
    create_redis,
    ensure_topics,
    mongo_database,
)
from docflow.common.context import bound_request_id
from docflow.common.events import DeadLetterHeader, DocumentIngested, Topic
from docflow.common.kafka import (
    MAX_DEAD_LETTER_PAYLOAD,
    PAYLOAD_BYTES_HEADER,
    PAYLOAD_TRUNCATED_HEADER,
    SourcePosition,
    publish_dead_letter,
    publish_event,
)
from docflow.common.settings import CommonSettings, load_settings
from docflow.testing import Isolation, collect_messages

pytestmark = pytest.mark.integration


@pytest.fixture
def settings(isolation: Isolation) -> CommonSettings:
    return load_settings(CommonSettings)


async def test_ensure_topics_creates_missing_topics_once(settings: CommonSettings) -> None:
    names = [settings.topic(Topic.INGESTED), settings.topic(Topic.DLQ)]
    await ensure_topics(settings, names)
    await ensure_topics(settings, names)  # a second replica starting changes nothing

    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    await admin.start()
    try:
        described = await admin.describe_topics(names)
    finally:
        await admin.close()
    assert {topic["topic"] for topic in described} == set(names)
    assert all(len(topic["partitions"]) == settings.kafka_topic_partitions for topic in described)


async def test_events_and_dead_letters_carry_the_correlation_id(settings: CommonSettings) -> None:
    await ensure_topics(settings, [settings.topic(Topic.INGESTED), settings.topic(Topic.DLQ)])
    broker = create_broker(settings)
    await broker.start()
    try:
        with bound_request_id("corr-1"):
            event = DocumentIngested(document_id="d1", tenant_id="default", content_hash="h")
            await publish_event(broker, settings, Topic.INGESTED, event, key="d1")
            await publish_dead_letter(
                broker,
                settings,
                payload=b"{broken",
                error_type="invalid_json",
                error_message="Expecting value",
                source=SourcePosition(topic="documents.incoming", partition=2, offset=41),
            )
    finally:
        await broker.stop()

    [ingested] = await collect_messages(settings.topic(Topic.INGESTED), count=1)
    assert DocumentIngested.model_validate_json(ingested.value).document_id == "d1"
    assert ingested.key == b"d1"
    assert dict(ingested.headers)["x-request-id"] == b"corr-1"

    [dead] = await collect_messages(settings.topic(Topic.DLQ), count=1)
    headers = {key: value.decode() for key, value in dead.headers}
    assert dead.value == b"{broken"
    assert headers[DeadLetterHeader.ERROR_TYPE] == "invalid_json"
    assert headers[DeadLetterHeader.ERROR_MESSAGE] == "Expecting value"
    assert headers[DeadLetterHeader.SOURCE_TOPIC] == "documents.incoming"
    assert headers[DeadLetterHeader.SOURCE_PARTITION] == "2"
    assert headers[DeadLetterHeader.SOURCE_OFFSET] == "41"
    assert headers["x-request-id"] == "corr-1"


async def test_a_dead_letter_too_large_for_kafka_keeps_a_marked_prefix_of_the_payload(
    settings: CommonSettings,
) -> None:
    """A message just under Kafka's 1 MiB limit no longer fits once the error headers are
    added; failing would retry it forever and hold its partition back."""
    await ensure_topics(settings, [settings.topic(Topic.DLQ)])
    broker = create_broker(settings)
    await broker.start()
    payload = b"x" * (1024 * 1024 - 100)
    try:
        await publish_dead_letter(
            broker,
            settings,
            payload=payload,
            error_type="content_too_large",
            error_message="The content is too long.",
            source=SourcePosition(topic="documents.incoming", partition=0, offset=7),
        )
    finally:
        await broker.stop()

    [dead] = await collect_messages(settings.topic(Topic.DLQ), count=1)
    headers = {key: value.decode() for key, value in dead.headers}
    assert dead.value == payload[:MAX_DEAD_LETTER_PAYLOAD]
    assert headers[PAYLOAD_TRUNCATED_HEADER] == "true"
    assert headers[PAYLOAD_BYTES_HEADER] == str(len(payload))
    assert headers[DeadLetterHeader.ERROR_TYPE] == "content_too_large"


async def test_mongo_and_redis_clients_reach_their_servers(settings: CommonSettings) -> None:
    mongo = create_mongo_client(settings)
    redis = create_redis(settings)
    try:
        database = mongo_database(mongo, settings)
        await database["probe"].insert_one({"_id": "p1", "value": 1})
        assert await database["probe"].find_one({"_id": "p1"}) == {"_id": "p1", "value": 1}
        key = f"{settings.redis_key_prefix}:probe"
        await redis.set(key, b"1", ex=10)
        assert await redis.get(key) == b"1"
        await redis.delete(key)
    finally:
        await mongo.drop_database(settings.mongodb_database)
        await mongo.close()
        await redis.aclose()

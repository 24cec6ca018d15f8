"""Consumer lag read from the real Kafka: committed offsets against the log end."""

from __future__ import annotations

import uuid

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import OffsetAndMetadata
from prometheus_client import REGISTRY

from docflow.common.clients import ensure_topics
from docflow.common.events import Topic
from docflow.common.lag import ConsumerLagExporter
from docflow.common.settings import CommonSettings
from docflow.testing import Isolation, produce_raw

pytestmark = pytest.mark.integration


@pytest.fixture
def settings(isolation: Isolation) -> CommonSettings:
    return CommonSettings(kafka_topic_partitions=2)


async def _commit(settings: CommonSettings, group: str, offsets: dict[TopicPartition, int]) -> None:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        group_id=group,
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        consumer.assign(list(offsets))
        await consumer.commit({tp: OffsetAndMetadata(o, "") for tp, o in offsets.items()})
    finally:
        await consumer.stop()


async def test_lag_is_the_log_end_minus_the_committed_offset(settings: CommonSettings) -> None:
    topic = settings.topic(Topic.INCOMING)
    await ensure_topics(settings, [topic])
    await produce_raw(topic, [b"m%d" % i for i in range(5)], partition=0)
    await produce_raw(topic, [b"n%d" % i for i in range(3)], partition=1)
    group = f"lag-{uuid.uuid4().hex[:8]}"
    first, second = TopicPartition(topic, 0), TopicPartition(topic, 1)
    exporter = ConsumerLagExporter(settings, group=group, topics=[topic])
    try:
        # Nothing committed yet: the whole log is behind (the subscribers start at earliest).
        assert await exporter.read() == {first: 5, second: 3}

        await _commit(settings, group, {first: 2})
        await exporter.export_once()
    finally:
        await exporter.close()

    def lag(partition: int) -> float | None:
        labels = {"group": group, "topic": topic, "partition": str(partition)}
        return REGISTRY.get_sample_value("docflow_kafka_consumer_lag", labels)

    assert (lag(0), lag(1)) == (3, 3)
    updated = REGISTRY.get_sample_value(
        "docflow_kafka_consumer_lag_updated_timestamp_seconds", {"group": group}
    )
    assert updated is not None
    assert updated > 0

"""Reading the dead-letter topic from the start to its end, as it is now.

The reader joins no consumer group: it assigns itself every partition and commits nothing, so
it can run next to anything and never moves anybody's offsets.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from docflow.common.clients import kafka_connection_options
from docflow.common.deadletters.letters import DeadLetter
from docflow.common.events import Topic
from docflow.common.settings import CommonSettings

_POLL_MS = 500


async def read_dead_letters(settings: CommonSettings) -> AsyncIterator[DeadLetter]:
    """Every dead letter up to the end offsets at the start of the read, partition by partition."""
    topic = settings.topic(Topic.DLQ)
    consumer = AIOKafkaConsumer(
        **kafka_connection_options(settings),
        client_id=f"{settings.service_name}-dlq-reader",
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        partitions = await _partitions(settings, topic)
        if not partitions:
            return
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        left = {tp for tp in partitions if ends[tp] > await consumer.position(tp)}
        while left:
            batches = await consumer.getmany(*left, timeout_ms=_POLL_MS)
            for tp, records in batches.items():
                for record in records:
                    if record.offset < ends[tp]:
                        yield DeadLetter(
                            topic=record.topic,
                            partition=record.partition,
                            offset=record.offset,
                            key=record.key,
                            value=record.value or b"",
                            headers=tuple(record.headers),
                        )
            left = {tp for tp in left if await consumer.position(tp) < ends[tp]}
    finally:
        await consumer.stop()


async def _partitions(settings: CommonSettings, topic: str) -> list[TopicPartition]:
    """The topic's partitions; none when the topic does not exist (nothing was dead-lettered)."""
    admin = AIOKafkaAdminClient(**kafka_connection_options(settings))
    await admin.start()
    try:
        (description,) = await admin.describe_topics([topic])
    finally:
        await admin.close()
    return sorted(TopicPartition(topic, p["partition"]) for p in description["partitions"])

"""Publishing events and dead letters the same way from every service."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from faststream.kafka import KafkaBroker

from docflow.common.context import kafka_headers
from docflow.common.events import DeadLetterHeader, Event, Topic
from docflow.common.metrics import KAFKA_MESSAGES
from docflow.common.settings import CommonSettings

logger = logging.getLogger(__name__)

# Kafka's default max.message.bytes is 1 MiB; a dead letter header message is kept well below.
_MAX_ERROR_MESSAGE = 1000


async def publish_event(
    broker: KafkaBroker, settings: CommonSettings, topic: Topic, event: Event, *, key: str
) -> None:
    """Publish an event keyed by document id (so one document's events stay in order)."""
    await broker.publish(
        event.model_dump_json().encode(),
        topic=settings.topic(topic),
        key=key.encode(),
        headers={**kafka_headers(), "content-type": "application/json"},
    )


@dataclass(frozen=True, slots=True)
class SourcePosition:
    """Where a message was read from, reported in its dead letter."""

    topic: str
    partition: int
    offset: int


async def publish_dead_letter(
    broker: KafkaBroker,
    settings: CommonSettings,
    *,
    payload: bytes,
    error_type: str,
    error_message: str,
    source: SourcePosition,
    key: bytes | None = None,
) -> None:
    """Send the original bytes to `documents.dlq` with headers naming the error and its origin."""
    # `.value`: aiokafka's C record builder accepts only exact `str` header keys, not StrEnum.
    headers = kafka_headers(
        **{
            DeadLetterHeader.ERROR_TYPE.value: error_type,
            DeadLetterHeader.ERROR_MESSAGE.value: error_message[:_MAX_ERROR_MESSAGE],
            DeadLetterHeader.SOURCE_TOPIC.value: source.topic,
            DeadLetterHeader.SOURCE_PARTITION.value: str(source.partition),
            DeadLetterHeader.SOURCE_OFFSET.value: str(source.offset),
        }
    )
    await broker.publish(payload, topic=settings.topic(Topic.DLQ), key=key, headers=headers)
    KAFKA_MESSAGES.labels(settings.service_name, source.topic, "dead_lettered").inc()
    logger.warning(
        "dead-lettered message",
        extra={
            "error_type": error_type,
            "source_topic": source.topic,
            "source_partition": source.partition,
            "source_offset": source.offset,
        },
    )

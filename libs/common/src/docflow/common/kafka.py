"""Publishing events and dead letters the same way from every service."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from aiokafka.errors import MessageSizeTooLargeError
from faststream.kafka import KafkaBroker

from docflow.common.context import kafka_headers
from docflow.common.events import DeadLetterHeader, Event, Topic
from docflow.common.metrics import DEAD_LETTERS, KAFKA_MESSAGES
from docflow.common.settings import CommonSettings

logger = logging.getLogger(__name__)

# Kafka's default max.message.bytes is 1 MiB; a dead letter header message is kept well below.
_MAX_ERROR_MESSAGE = 1000
# A message that was itself near the 1 MiB limit no longer fits once the dead-letter headers
# are added; its dead letter keeps this much of it (and says so) rather than failing forever
# and holding its partition back.
MAX_DEAD_LETTER_PAYLOAD = 960 * 1024
PAYLOAD_TRUNCATED_HEADER = "error.payload_truncated"
PAYLOAD_BYTES_HEADER = "error.payload_bytes"


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
    topic = settings.topic(Topic.DLQ)
    try:
        await broker.publish(payload, topic=topic, key=key, headers=headers)
    except MessageSizeTooLargeError:
        headers[PAYLOAD_TRUNCATED_HEADER] = "true"
        headers[PAYLOAD_BYTES_HEADER] = str(len(payload))
        await broker.publish(
            payload[:MAX_DEAD_LETTER_PAYLOAD], topic=topic, key=key, headers=headers
        )
        logger.warning(
            "dead letter too large for Kafka: payload truncated",
            extra={"payload_bytes": len(payload), "kept_bytes": MAX_DEAD_LETTER_PAYLOAD},
        )
    KAFKA_MESSAGES.labels(settings.service_name, source.topic, "dead_lettered").inc()
    DEAD_LETTERS.labels(settings.service_name, source.topic, error_type).inc()
    logger.warning(
        "dead-lettered message",
        extra={
            "error_type": error_type,
            "source_topic": source.topic,
            "source_partition": source.partition,
            "source_offset": source.offset,
        },
    )

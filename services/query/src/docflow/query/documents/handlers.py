"""Freshness by events: `documents.analyzed` invalidates what the cache holds about a document
(under the event's tenant) and that tenant's lists and stats.

The query service has its own consumer group, so each event reaches one replica, which is
enough: every replica shares the Redis cache. Invalidation is idempotent (a DEL and a
generation bump), so a redelivered event changes nothing that matters.
"""

from __future__ import annotations

import asyncio
import logging
import time

from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from pydantic import ValidationError

from docflow.common.context import bound_request_id, request_id_from_headers
from docflow.common.events import DocumentAnalyzed, Topic
from docflow.common.metrics import KAFKA_MESSAGES
from docflow.query.cache.store import REDIS_ERRORS, Cache
from docflow.query.settings import QuerySettings

logger = logging.getLogger(__name__)

_FIRST_RETRY_S = 0.05
_MAX_RETRY_S = 1.0


async def invalidate_with_retry(
    cache: Cache, *, tenant: str, document_id: str, give_up_after_s: float
) -> bool:
    """Invalidate, retrying while Redis is down; False once `give_up_after_s` has passed.

    Giving up is safe then: every entry the invalidation would have removed has expired.
    """
    deadline = time.monotonic() + give_up_after_s
    delay = _FIRST_RETRY_S
    while True:
        try:
            await cache.invalidate_document(tenant=tenant, document_id=document_id)
        except REDIS_ERRORS as exc:
            if time.monotonic() + delay > deadline:
                logger.error(
                    "could not invalidate the cache",
                    extra={
                        "tenant_id": tenant,
                        "document_id": document_id,
                        "error": type(exc).__name__,
                    },
                )
                return False
            await asyncio.sleep(delay)
            delay = min(delay * 2, _MAX_RETRY_S)
        else:
            return True


def register_handlers(broker: KafkaBroker, *, settings: QuerySettings, cache: Cache) -> None:
    topic = settings.topic(Topic.ANALYZED)
    # Past a document's TTL and grace, whatever an invalidation would remove is gone anyway.
    # Giving up earlier (Redis unreachable but not restarted for minutes) leaves an entry
    # stale for at most its TTL.
    give_up_after_s = min(
        settings.invalidation_retry_s,
        settings.cache_document_ttl_s + settings.cache_stale_grace_s,
    )

    # `earliest` for a group without offsets: a replica that joins after an event was
    # published must still see it (invalidating twice is harmless, missing one is not).
    @broker.subscriber(
        topic,
        group_id=settings.query_consumer_group,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.ACK,
    )
    async def on_document_analyzed(message: KafkaMessage) -> None:
        with bound_request_id(request_id_from_headers(message.headers)):
            try:
                event = DocumentAnalyzed.model_validate_json(message.body)
            except ValidationError:
                # Not ours to repair; the producer's dead letters hold the story.
                logger.warning("ignored an unreadable documents.analyzed event")
                KAFKA_MESSAGES.labels(settings.service_name, topic, "ignored").inc()
                return
            await invalidate_with_retry(
                cache,
                tenant=event.tenant_id,
                document_id=event.document_id,
                give_up_after_s=give_up_after_s,
            )
            KAFKA_MESSAGES.labels(settings.service_name, topic, "processed").inc()
            logger.debug("invalidated", extra={"document_id": event.document_id})

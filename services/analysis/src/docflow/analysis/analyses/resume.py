"""Resume deferred documents: re-publish DocumentIngested for each one whose tenant has budget.

A tenant's documents are deferred once its daily token budget is spent; the budget resets at
00:00 UTC (the Redis counter's key holds the date). Run this after the reset, e.g. from cron or
a Kubernetes CronJob at 00:05 UTC:

    uv run python -m docflow.analysis.analyses.resume [--limit 10000]

Re-publishing goes through Kafka like any new document, so the consumer's request packing, limits,
budget checks and idempotence all apply; a tenant still over its budget stays deferred. It
publishes as ingest does (`docflow.common.publishing`), so the event lands on the partition of
the document's first one.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from docflow.analysis.analyses import repository
from docflow.analysis.analyses.budget import TenantBudget
from docflow.analysis.settings import AnalysisSettings
from docflow.common.clients import MongoDocument, create_mongo_client, create_redis, mongo_database
from docflow.common.context import new_request_id
from docflow.common.events import DocumentIngested
from docflow.common.logging import configure_logging
from docflow.common.publishing import EventPublisher, OutgoingEvent, ingested_publisher
from docflow.common.settings import load_settings

logger = logging.getLogger(__name__)

_PUBLISH_TIMEOUT_S = 30.0  # a batch of events; a command may wait longer than a request


class ResumeIncomplete(RuntimeError):
    """Some events were not acknowledged; their documents stay deferred for the next run."""


async def republish_deferred(
    documents: Sequence[MongoDocument],
    *,
    budget_spent: Callable[[str], Awaitable[bool]],
    publisher: EventPublisher,
) -> int:
    """Publish DocumentIngested for each document whose tenant has budget; returns how many.

    Raises ResumeIncomplete, after publishing what it could, when Kafka acknowledged fewer.
    """
    spent: dict[str, bool] = {}
    events: list[OutgoingEvent] = []
    for document in documents:
        tenant = str(document.get("tenant_id"))
        if tenant not in spent:
            spent[tenant] = await budget_spent(tenant)
        if not spent[tenant]:
            event = DocumentIngested(
                document_id=document["_id"],
                tenant_id=tenant,
                content_hash=str(document.get("content_hash") or ""),
            )
            events.append(OutgoingEvent(event, request_id=new_request_id()))
    published = await publisher.publish_all(events)
    if published < len(events):
        raise ResumeIncomplete(
            f"{len(events) - published} of {len(events)} deferred documents not re-published"
        )
    return published


async def resume_deferred(settings: AnalysisSettings, *, limit: int) -> int:
    """Re-publish deferred documents of tenants with budget left; returns how many."""
    mongo = create_mongo_client(settings)
    redis = create_redis(settings)
    publisher = ingested_publisher(settings, timeout_s=_PUBLISH_TIMEOUT_S)
    budget = TenantBudget(
        redis=redis,
        prefix=settings.redis_key_prefix,
        daily_tokens=settings.tenant_daily_token_budget,
    )
    await publisher.start()
    try:
        documents = await repository.deferred_documents(
            mongo_database(mongo, settings), limit=limit
        )
        published = await republish_deferred(
            documents, budget_spent=budget.spent, publisher=publisher
        )
        logger.info("deferred documents re-published", extra={"count": published})
        return published
    finally:
        await publisher.stop()
        await redis.aclose()
        await mongo.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--limit", type=int, default=10_000)
    args = parser.parse_args()
    settings = load_settings(AnalysisSettings)
    configure_logging(service=settings.service_name, level=settings.log_level)
    count = asyncio.run(resume_deferred(settings, limit=args.limit))
    print(f"re-published {count} deferred documents")


if __name__ == "__main__":
    main()

"""Resume deferred documents: re-publish DocumentIngested for each one whose tenant has budget.

A tenant's documents are deferred once its daily token budget is spent; the budget resets at
00:00 UTC (the Redis counter's key holds the date). Run this after the reset, e.g. from cron or
a Kubernetes CronJob at 00:05 UTC:

    uv run python -m docflow.analysis.analyses.resume [--limit 10000]

Re-publishing goes through Kafka like any new document, so the consumer's request packing, limits,
budget checks and idempotence all apply; a tenant still over its budget stays deferred.
"""

from __future__ import annotations

import argparse
import asyncio
import logging

from docflow.analysis.analyses import repository
from docflow.analysis.analyses.budget import TenantBudget
from docflow.analysis.settings import AnalysisSettings
from docflow.common.clients import create_broker, create_mongo_client, create_redis, mongo_database
from docflow.common.context import bound_request_id
from docflow.common.events import DocumentIngested, Topic
from docflow.common.kafka import publish_event
from docflow.common.logging import configure_logging
from docflow.common.settings import load_settings

logger = logging.getLogger(__name__)


async def resume_deferred(settings: AnalysisSettings, *, limit: int) -> int:
    """Re-publish deferred documents of tenants with budget left; returns how many."""
    mongo = create_mongo_client(settings)
    redis = create_redis(settings)
    broker = create_broker(settings)
    budget = TenantBudget(
        redis=redis,
        prefix=settings.redis_key_prefix,
        daily_tokens=settings.tenant_daily_token_budget,
    )
    await broker.connect()
    try:
        documents = await repository.deferred_documents(
            mongo_database(mongo, settings), limit=limit
        )
        spent: dict[str, bool] = {}
        published = 0
        for document in documents:
            tenant = str(document.get("tenant_id"))
            if tenant not in spent:
                spent[tenant] = await budget.spent(tenant)
            if spent[tenant]:
                continue
            event = DocumentIngested(
                document_id=document["_id"],
                tenant_id=tenant,
                content_hash=str(document.get("content_hash") or ""),
            )
            with bound_request_id(None):
                await publish_event(broker, settings, Topic.INGESTED, event, key=document["_id"])
            published += 1
        logger.info("deferred documents re-published", extra={"count": published})
        return published
    finally:
        await broker.stop()
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

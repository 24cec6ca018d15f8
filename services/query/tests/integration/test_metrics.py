"""Query's operator metrics, read from its operations app's /metrics: the cache's hit ratio
counters, the lag of its consumer group, readiness."""

from __future__ import annotations

import asyncio

import pytest

from docflow.common.events import Topic
from docflow.testing import Isolation, Scrape, scrape, scrape_until
from services.query.tests.integration.support import Database, insert_documents, running_query

pytestmark = pytest.mark.integration

CACHE = "docflow_query_cache_total"


def lookups(current: Scrape) -> dict[str, float]:
    return {outcome: current.value(CACHE, outcome=outcome) for outcome in ("hit", "miss")}


async def test_hits_and_misses_give_the_hit_ratio(test_db: Database) -> None:
    [document] = await insert_documents(test_db, 1)
    url = f"/v1/documents/{document['_id']}"
    async with running_query(cache_document_ttl_s=0.5) as query:
        before = lookups(await scrape(query.app))
        assert (await query.client.get(url)).status_code == 200  # miss: read from MongoDB
        assert (await query.client.get(url)).status_code == 200  # hit
        await asyncio.sleep(0.6)
        assert (await query.client.get(url)).status_code == 200  # expired: read again, a miss
        after = lookups(await scrape(query.app))

    assert {outcome: after[outcome] - before[outcome] for outcome in after} == {
        "hit": 1,
        "miss": 2,
    }


async def test_the_lag_of_its_group_and_its_readiness_are_exported(
    isolation: Isolation, test_db: Database
) -> None:
    async with running_query(consumer_lag_interval_s=0.2) as query:
        group, topic = query.settings.query_consumer_group, isolation.topic(Topic.ANALYZED)
        ready = await query.ops.get("/health/ready")

        def lag_known(current: Scrape) -> bool:
            return current.has("docflow_kafka_consumer_lag", group=group, topic=topic)

        current = await scrape_until(query.app, lag_known)

    assert ready.status_code == 200
    assert current.value("docflow_ready", service="query") == 1
    assert current.value("docflow_kafka_consumer_lag", group=group, topic=topic) == 0

"""Degraded mode: reads survive Redis going away (and cache again when it returns), and cached
reads survive MongoDB going away while the rest fail fast with 503 `database_unavailable`."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from pymongo import AsyncMongoClient
from redis.asyncio import Redis

from docflow.testing import Isolation, OwnServer
from services.query.tests.integration.support import (
    Database,
    insert_documents,
    running_query,
    stored_document,
    wait_until,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]


async def test_reads_answer_without_redis_and_caching_resumes_when_it_returns(
    isolation: Isolation, test_db: Database, private_redis: OwnServer
) -> None:
    redis_url = f"redis://127.0.0.1:{private_redis.port}/0"
    [document] = await insert_documents(test_db, 1)
    url = f"/v1/documents/{document['_id']}"
    async with running_query(redis_url=redis_url, cache_retry_interval_s=0.2) as query:
        key = query.services.cache.keys.document("default", document["_id"], with_content=True)
        assert (await query.client.get(url)).status_code == 200

        private_redis.stop()
        without_redis = [await query.client.get(url) for _ in range(5)]
        listing = await query.client.get("/v1/documents")
        stats = await query.client.get("/v1/stats")
        health = await query.ops.get("/health/detailed")

        private_redis.start()
        redis = Redis.from_url(redis_url)
        try:

            async def cached_again() -> bool:
                response = await query.client.get(url)
                assert response.status_code == 200
                return bool(await redis.exists(key))

            await wait_until(cached_again, timeout_s=15, step_s=0.1)
            health_after = await query.ops.get("/health/detailed")
        finally:
            await redis.aclose()

    assert [r.status_code for r in without_redis] == [200] * 5
    assert without_redis[-1].json()["data"]["id"] == document["_id"]
    assert listing.status_code == 200
    assert stats.status_code == 200
    assert health.status_code == 200  # the cache is optional: the service stays ready
    assert health.json()["data"]["dependencies"]["cache"]["status"] == "degraded"
    assert health.json()["data"]["status"] == "degraded"
    assert health_after.json()["data"]["dependencies"]["cache"]["status"] == "ok"


async def test_rate_limiter_keeps_counting_without_redis(
    isolation: Isolation, test_db: Database, private_redis: OwnServer
) -> None:
    redis_url = f"redis://127.0.0.1:{private_redis.port}/0"
    async with running_query(redis_url=redis_url, rate_limit_default="5/minute") as query:
        private_redis.stop()
        statuses = [(await query.client.get("/v1/stats")).status_code for _ in range(7)]

    assert statuses == [200] * 5 + [429] * 2  # counted in process, never a 500


async def test_cached_reads_survive_mongodb_down_and_the_rest_get_503(
    isolation: Isolation, private_ferretdb: OwnServer
) -> None:
    mongodb_uri = f"mongodb://127.0.0.1:{private_ferretdb.port}"
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(mongodb_uri, tz_aware=True)
    database = client[isolation.database]
    document = stored_document()
    await database["documents"].insert_one(document)
    await client.close()
    url = f"/v1/documents/{document['_id']}"

    async with running_query(mongodb_uri=mongodb_uri) as query:
        warm = await query.client.get(url)
        private_ferretdb.stop()

        cached = await query.client.get(url)
        uncached = await query.client.get(f"/v1/documents/{uuid.uuid4().hex}")
        listing = await query.client.get("/v1/documents", params={"source": "nowhere"})
        health = await query.ops.get("/health/detailed")
        readiness = await query.ops.get("/health/ready")

    assert warm.status_code == 200
    assert cached.status_code == 200
    assert cached.json()["data"] == warm.json()["data"]
    for response in (uncached, listing):
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "database_unavailable"
        assert "mongodb://" not in response.text
    # Cached reads are the designed degraded mode: the pod stays in rotation to serve them.
    assert readiness.status_code == 200
    assert health.json()["data"]["status"] == "degraded"
    assert health.json()["data"]["dependencies"]["mongodb"]["status"] == "degraded"
    assert health.json()["data"]["dependencies"]["reads"]["status"] == "ok"


async def test_stale_entry_is_served_when_mongodb_cannot_refresh_it(
    isolation: Isolation, private_ferretdb: OwnServer
) -> None:
    mongodb_uri = f"mongodb://127.0.0.1:{private_ferretdb.port}"
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(mongodb_uri, tz_aware=True)
    document = stored_document()
    await client[isolation.database]["documents"].insert_one(document)
    await client.close()
    url = f"/v1/documents/{document['_id']}"

    async with running_query(
        mongodb_uri=mongodb_uri, cache_document_ttl_s=0.2, cache_stale_grace_s=60
    ) as query:
        assert (await query.client.get(url)).status_code == 200
        private_ferretdb.stop()
        await asyncio.sleep(0.3)

        stale = await query.client.get(url)

    assert stale.status_code == 200
    assert stale.json()["data"]["id"] == document["_id"]

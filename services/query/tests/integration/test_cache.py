"""The cache: ETags and 304s, negative caching, stale-while-revalidate, one recompute per key."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import pytest
from redis.asyncio import Redis

from docflow.testing import Isolation
from services.query.tests.integration.support import (
    Database,
    QueryApp,
    analysis,
    insert_documents,
    running_query,
    stored_document,
)

pytestmark = pytest.mark.integration


async def test_etag_round_trip_answers_304_until_the_document_changes(
    query: QueryApp, test_db: Database
) -> None:
    [document] = await insert_documents(test_db, 1)
    url = f"/v1/documents/{document['_id']}"
    first = await query.client.get(url)
    etag = first.headers["etag"]

    again = await query.client.get(url, headers={"If-None-Match": etag})
    other = await query.client.get(url, headers={"If-None-Match": '"stale"'})
    uncached_url = await query.client.get(f"{url}?include_content=false")

    assert first.status_code == 200
    assert first.headers["cache-control"] == "private, no-store"
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    assert again.headers["x-request-id"]
    assert other.status_code == 200
    assert other.json()["data"] == first.json()["data"]
    assert "content" in first.json()["data"]
    assert "content" not in uncached_url.json()["data"]
    assert uncached_url.headers["etag"] != etag  # another representation, another tag


async def test_list_and_stats_carry_etags_too(query: QueryApp, test_db: Database) -> None:
    await insert_documents(test_db, 2)
    for url in ("/v1/documents?limit=5", "/v1/stats"):
        first = await query.client.get(url)
        again = await query.client.get(url, headers={"If-None-Match": first.headers["etag"]})
        assert (first.status_code, again.status_code) == (200, 304)


async def test_not_found_is_cached_briefly(isolation: Isolation, test_db: Database) -> None:
    async with running_query(cache_not_found_ttl_s=1.0) as query:
        document = stored_document()
        url = f"/v1/documents/{document['_id']}"
        assert (await query.client.get(url)).status_code == 404

        await test_db["documents"].insert_one(document)
        still_missing = await query.client.get(url)
        await asyncio.sleep(1.1)
        found = await query.client.get(url)

    assert still_missing.status_code == 404  # served from the negative cache
    assert still_missing.json()["error"]["code"] == "document_not_found"
    assert found.status_code == 200


async def test_stats_count_by_status_sentiment_and_language(
    query: QueryApp, test_db: Database
) -> None:
    await test_db["documents"].insert_many(
        [
            stored_document(status="analyzed", analysis=analysis(label="positive", language="en")),
            stored_document(status="analyzed", analysis=analysis(label="positive", language="de")),
            stored_document(status="analyzed", analysis=analysis(label="mixed", language="en")),
            stored_document(status="failed", error={"code": "x", "message": "y"}),
            stored_document(status="queued"),
        ]
    )

    data = (await query.client.get("/v1/stats")).json()["data"]

    assert data == {
        "total": 5,
        "by_status": {"queued": 1, "analyzed": 3, "failed": 1, "deferred": 0},
        "by_sentiment": {"positive": 2, "neutral": 0, "negative": 0, "mixed": 1},
        "by_language": {"en": 2, "de": 1},
    }


async def _count_loads(query: QueryApp) -> list[Any]:
    """Record every MongoDB read of a document the app makes."""
    repository = query.services.documents
    calls: list[Any] = []
    original = repository.find

    async def counting(document_id: str, *, tenant: str, with_content: bool) -> Any:
        calls.append(document_id)
        return await original(document_id, tenant=tenant, with_content=with_content)

    repository.find = counting  # type: ignore[method-assign]  # a spy on the real read
    return calls


async def test_a_cold_hot_key_reaches_mongodb_once(isolation: Isolation, test_db: Database) -> None:
    async with running_query(cache_lock_wait_s=10.0) as query:
        [document] = await insert_documents(test_db, 1)
        calls = await _count_loads(query)

        responses = await asyncio.gather(
            *(query.client.get(f"/v1/documents/{document['_id']}") for _ in range(40))
        )

    assert {response.status_code for response in responses} == {200}
    assert len(calls) == 1


async def test_stale_entry_is_served_while_another_request_recomputes_it(
    isolation: Isolation, test_db: Database
) -> None:
    async with running_query(cache_document_ttl_s=0.3, cache_stale_grace_s=30) as query:
        [document] = await insert_documents(test_db, 1)
        url = f"/v1/documents/{document['_id']}"
        await query.client.get(url)
        await test_db["documents"].update_one(
            {"_id": document["_id"]}, {"$set": {"title": "renamed"}}
        )
        await asyncio.sleep(0.4)  # past its TTL, within its grace
        redis = Redis.from_url(query.settings.redis_url.get_secret_value())
        key = query.services.cache.keys.document("default", document["_id"], with_content=True)
        try:
            await redis.set(f"{key}:lock", "someone-else", px=5000)
            while_locked = await query.client.get(url)
            await redis.delete(f"{key}:lock")
            refreshed = await query.client.get(url)
            served_again = await query.client.get(url)
        finally:
            await redis.aclose()

    assert while_locked.json()["data"]["title"] == "Quarterly report"  # stale, not a wait
    assert refreshed.json()["data"]["title"] == "renamed"
    assert served_again.json()["data"]["title"] == "renamed"


async def test_cache_ttl_zero_reads_mongodb_every_time(
    isolation: Isolation, test_db: Database
) -> None:
    async with running_query(cache_document_ttl_s=0) as query:
        [document] = await insert_documents(test_db, 1)
        calls = await _count_loads(query)
        for _ in range(3):
            assert (await query.client.get(f"/v1/documents/{document['_id']}")).status_code == 200

    assert len(calls) == 3


async def test_hit_lane_and_route_answer_alike(query: QueryApp, test_db: Database) -> None:
    [document] = await insert_documents(test_db, 1)
    url = f"/v1/documents/{document['_id']}"
    from_route = await query.client.get(url)  # a miss: the FastAPI route fills the cache
    from_lane = await query.client.get(url)  # a hit: answered before the router
    started = time.monotonic()
    with_flag = await query.client.get(f"{url}?include_content=true")

    assert from_lane.json()["data"] == from_route.json()["data"]
    assert from_lane.headers["etag"] == from_route.headers["etag"]
    assert with_flag.headers["etag"] == from_route.headers["etag"]
    for response in (from_route, from_lane):
        assert response.headers["content-type"] == "application/json"
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.json()["meta"]["request_id"] == response.headers["x-request-id"]
    assert time.monotonic() - started < 5
    bad_flag = await query.client.get(f"{url}?include_content=maybe")
    assert bad_flag.status_code == 422
    assert bad_flag.json()["error"]["code"] == "invalid_filter"
    assert uuid.UUID(hex=document["_id"])


async def test_hit_lane_and_route_refuse_alike(query: QueryApp) -> None:
    url = f"/v1/documents/{uuid.uuid4().hex}"
    from_route = await query.client.get(url)  # a miss: the route caches "not found"
    from_lane = await query.client.get(url)  # a fresh not-found entry: answered by the lane

    for response in (from_route, from_lane):
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/json"
        assert response.json()["meta"]["request_id"] == response.headers["x-request-id"]
    assert from_lane.json()["error"] == from_route.json()["error"]
    assert from_lane.json()["error"]["code"] == "document_not_found"

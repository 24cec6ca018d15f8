"""A document's status, seen through the query service, follows `documents.analyzed`."""

from __future__ import annotations

import time

import pytest
from redis.asyncio import Redis

from docflow.testing import Isolation
from services.query.tests.integration.support import (
    Database,
    QueryApp,
    analysis,
    insert_documents,
    publish_analyzed,
    subscriber_ready,
    wait_until,
)

pytestmark = pytest.mark.integration


async def test_status_turns_analyzed_within_a_second_of_the_event(
    query: QueryApp, isolation: Isolation, test_db: Database
) -> None:
    await subscriber_ready(query, isolation, test_db)
    [document] = await insert_documents(test_db, 1)
    url = f"/v1/documents/{document['_id']}"
    assert (await query.client.get(url)).json()["data"]["status"] == "queued"

    # analysis persists first: without the event the cache still (rightly) answers queued.
    await test_db["documents"].update_one(
        {"_id": document["_id"]}, {"$set": {"status": "analyzed", "analysis": analysis()}}
    )
    assert (await query.client.get(url)).json()["data"]["status"] == "queued"

    published_at = time.monotonic()
    await publish_analyzed(isolation, document["_id"])

    async def analyzed() -> bool:
        data = (await query.client.get(url)).json()["data"]
        return bool(data["status"] == "analyzed" and data["analysis"]["summary"])

    await wait_until(analyzed, timeout_s=10)
    assert time.monotonic() - published_at < 1.0


async def test_event_retires_cached_lists_and_stats(
    query: QueryApp, isolation: Isolation, test_db: Database
) -> None:
    await subscriber_ready(query, isolation, test_db)
    [document] = await insert_documents(test_db, 1)
    queued_page = await query.client.get("/v1/documents", params={"status": "queued"})
    stats = await query.client.get("/v1/stats")
    assert [item["id"] for item in queued_page.json()["data"]["items"]] == [document["_id"]]
    assert stats.json()["data"]["by_status"]["queued"] == 1

    await test_db["documents"].update_one(
        {"_id": document["_id"]}, {"$set": {"status": "analyzed", "analysis": analysis()}}
    )
    await publish_analyzed(isolation, document["_id"])

    async def counted_as_analyzed() -> bool:
        data = (await query.client.get("/v1/stats")).json()["data"]
        return bool(data["by_status"] == {"queued": 0, "analyzed": 1, "failed": 0, "deferred": 0})

    await wait_until(counted_as_analyzed, timeout_s=10)
    page = await query.client.get("/v1/documents", params={"status": "queued"})
    assert page.json()["data"]["items"] == []


async def test_unreadable_event_is_skipped_and_later_events_still_apply(
    query: QueryApp, isolation: Isolation, test_db: Database
) -> None:
    from docflow.common.events import Topic
    from docflow.testing import produce_raw

    await subscriber_ready(query, isolation, test_db)
    [document] = await insert_documents(test_db, 1)
    url = f"/v1/documents/{document['_id']}"
    await query.client.get(url)
    await test_db["documents"].update_one({"_id": document["_id"]}, {"$set": {"status": "failed"}})

    await produce_raw(isolation.topic(Topic.ANALYZED), [b"not json", b'{"version": 9}'])
    await publish_analyzed(isolation, document["_id"], status="failed")

    async def failed() -> bool:
        return bool((await query.client.get(url)).json()["data"]["status"] == "failed")

    await wait_until(failed, timeout_s=10)


async def test_fill_that_read_before_an_invalidation_is_not_stored(
    query: QueryApp, isolation: Isolation
) -> None:
    cache = query.services.cache
    key = cache.keys.document("default", "f" * 32, with_content=True)
    from docflow.query.cache.entries import new_entry

    token = await cache.acquire(key, timeout_s=5)
    assert token is not None
    # the event arrives while the read is in flight
    await cache.invalidate_document(tenant="default", document_id="f" * 32)

    stored = await cache.fill(
        key, new_entry(b'{"old":1}', fresh_for_s=60), token=token, keep_for_s=60
    )

    assert stored is False
    redis = Redis.from_url(query.settings.redis_url.get_secret_value())
    try:
        assert await redis.get(key) is None
    finally:
        await redis.aclose()

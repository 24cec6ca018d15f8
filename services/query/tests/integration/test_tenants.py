"""Two tenants on one query service: neither sees, counts nor invalidates the other's documents.

The contract: a document of another tenant does not exist for the caller (the 404 of an
unknown id), and lists and stats count only the caller's tenant.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from docflow.testing import Isolation
from services.query.tests.integration.support import (
    Database,
    QueryApp,
    analysis,
    insert_documents,
    publish_analyzed,
    running_query,
    subscriber_ready,
    wait_until,
)

pytestmark = pytest.mark.integration

ACME, GLOBEX = "acme", "globex"
UNKNOWN_ID = "0123456789abcdef" * 2


def _error_without_id(response: httpx.Response, document_id: str) -> dict[str, Any]:
    """The error of a 404 with the requested id blanked out, to compare two 404s."""
    error: dict[str, Any] = response.json()["error"]
    return {**error, "message": error["message"].replace(document_id, "<id>")}


async def test_another_tenants_document_is_the_404_of_an_unknown_id(
    query: QueryApp, test_db: Database
) -> None:
    [document] = await insert_documents(test_db, 1, tenant_id=ACME)
    url = f"/v1/documents/{document['_id']}"
    async with query.client_of(ACME) as acme, query.client_of(GLOBEX) as globex:
        # acme's reads fill the cache: both variants, each with its ETag
        owned = await acme.get(url)
        owned_brief = await acme.get(url, params={"include_content": "false"})
        assert (owned.status_code, owned_brief.status_code) == (200, 200)
        cache = query.services.cache
        for with_content in (True, False):
            key = cache.keys.document(ACME, document["_id"], with_content=with_content)
            entry = await cache.get(key)
            assert entry is not None
            assert entry.found

        # the lane: acme's entry is cached, and globex still gets the unknown id's 404, the
        # second time from its own cached not-found
        unknown = await globex.get(f"/v1/documents/{UNKNOWN_ID}")
        through_lane = [await globex.get(url) for _ in range(2)]
        # the routed path (globex has nothing cached for this variant), with acme's ETag
        # and with the wildcard: never a 304
        routed = await globex.get(
            url,
            params={"include_content": "false"},
            headers={"If-None-Match": owned_brief.headers["etag"]},
        )
        wildcard = await globex.get(url, headers={"If-None-Match": "*"})
        # acme's entry is untouched by globex's not-found
        owned_again = await acme.get(url, headers={"If-None-Match": owned.headers["etag"]})

    assert unknown.status_code == 404
    for response in (*through_lane, routed, wildcard):
        assert response.status_code == 404, response.text
        assert _error_without_id(response, document["_id"]) == _error_without_id(
            unknown, UNKNOWN_ID
        )
        assert "etag" not in response.headers
    assert owned.json()["data"]["tenant_id"] == ACME
    assert owned_again.status_code == 304
    assert owned.headers["cache-control"] == "private, no-store"
    assert owned_again.headers["cache-control"] == "private, no-store"


async def test_lists_and_stats_count_only_the_callers_documents(
    query: QueryApp, test_db: Database
) -> None:
    acme_documents = await insert_documents(
        test_db, 3, tenant_id=ACME, status="analyzed", analysis=analysis(language="en")
    )
    globex_documents = await insert_documents(test_db, 2, tenant_id=GLOBEX)
    async with query.client_of(ACME) as acme, query.client_of(GLOBEX) as globex:
        acme_page, globex_page = [
            await client.get("/v1/documents", params={"limit": 100}) for client in (acme, globex)
        ]
        filtered = await globex.get("/v1/documents", params={"status": "analyzed"})
        by_source = await globex.get("/v1/documents", params={"source": "crm"})
        acme_stats, globex_stats = [await client.get("/v1/stats") for client in (acme, globex)]

    def ids(page: httpx.Response) -> set[str]:
        return {item["id"] for item in page.json()["data"]["items"]}

    assert ids(acme_page) == {document["_id"] for document in acme_documents}
    assert ids(globex_page) == ids(by_source) == {doc["_id"] for doc in globex_documents}
    assert ids(filtered) == set()
    assert acme_stats.json()["data"]["total"] == 3
    assert acme_stats.json()["data"]["by_language"] == {"en": 3}
    assert globex_stats.json()["data"]["total"] == 2
    assert globex_stats.json()["data"]["by_status"]["analyzed"] == 0
    assert globex_stats.json()["data"]["by_language"] == {}
    for response in (acme_page, globex_page, acme_stats, globex_stats):
        assert response.headers["cache-control"] == "private, no-store"


async def test_an_analyzed_event_invalidates_only_its_tenants_entries(
    isolation: Isolation, test_db: Database
) -> None:
    # Lists and stats live long here, so that only an invalidation can retire them.
    async with running_query(cache_list_ttl_s=300, cache_stats_ttl_s=300) as query:
        await subscriber_ready(query, isolation, test_db)
        [acme_document] = await insert_documents(test_db, 1, tenant_id=ACME)
        [globex_document] = await insert_documents(test_db, 1, tenant_id=GLOBEX)
        acme_url = f"/v1/documents/{acme_document['_id']}"
        globex_url = f"/v1/documents/{globex_document['_id']}"
        keys = query.services.cache.keys
        redis = Redis.from_url(query.settings.redis_url.get_secret_value())
        async with query.client_of(ACME) as acme, query.client_of(GLOBEX) as globex:
            for client, url in ((acme, acme_url), (globex, globex_url)):
                assert (await client.get(url)).json()["data"]["status"] == "queued"
                assert (await client.get("/v1/stats")).json()["data"]["by_status"]["queued"] == 1
            # analysis stores both results; only acme's event is published
            await test_db["documents"].update_many(
                {"_id": {"$in": [acme_document["_id"], globex_document["_id"]]}},
                {"$set": {"status": "analyzed", "analysis": analysis()}},
            )
            await publish_analyzed(isolation, acme_document["_id"], tenant=ACME)

            async def acme_sees_it_analyzed() -> bool:
                data = (await acme.get(acme_url)).json()["data"]
                return bool(data["status"] == "analyzed")

            await wait_until(acme_sees_it_analyzed, timeout_s=10)
            acme_stats = (await acme.get("/v1/stats")).json()["data"]
            globex_document_read = (await globex.get(globex_url)).json()["data"]
            globex_stats = (await globex.get("/v1/stats")).json()["data"]
        try:
            generations = [await redis.get(keys.generation(t)) for t in (ACME, GLOBEX)]
        finally:
            await redis.aclose()

    assert acme_stats["by_status"]["analyzed"] == 1
    # globex's cached document and counts stand until an event of globex's says otherwise
    assert globex_document_read["status"] == "queued"
    assert globex_stats["by_status"]["queued"] == 1
    assert generations == [b"1", None]

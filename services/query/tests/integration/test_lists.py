"""Listing: every filter, newest-first cursor pages that survive concurrent inserts."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from services.query.tests.integration.support import (
    Database,
    QueryApp,
    analysis,
    insert_documents,
    stored_document,
)

pytestmark = pytest.mark.integration


async def _all_pages(query: QueryApp, *, limit: int, pause_s: float = 0.0) -> list[str]:
    seen: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, str | int] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        response = await query.client.get("/v1/documents", params=params)
        assert response.status_code == 200, response.text
        data = response.json()["data"]
        seen.extend(item["id"] for item in data["items"])
        cursor = data["next_cursor"]
        if cursor is None:
            return seen
        await asyncio.sleep(pause_s)


async def test_pages_return_every_document_once_while_new_ones_arrive(
    query: QueryApp, test_db: Database
) -> None:
    existing = await insert_documents(test_db, 60)
    # Ties on created_at: the id decides the order, so no tie can be split across pages badly.
    moment = datetime.now(UTC) - timedelta(minutes=10)
    tied = [stored_document(created_at=moment) for _ in range(9)]
    await test_db["documents"].insert_many(tied)
    expected = {doc["_id"] for doc in existing + tied}

    async def keep_inserting() -> set[str]:
        inserted = set()
        for _ in range(15):
            document = stored_document()
            await test_db["documents"].insert_one(document)
            inserted.add(document["_id"])
            await asyncio.sleep(0.02)
        return inserted

    pages, inserted = await asyncio.gather(
        _all_pages(query, limit=7, pause_s=0.02), keep_inserting()
    )

    assert len(pages) == len(set(pages)), "a document came twice"
    assert expected <= set(pages), "a document was skipped"
    # New documents sort before every cursor: only those in before page 1 was read appear.
    assert set(pages) - expected <= inserted
    assert len(set(pages) - expected) < len(inserted)


async def test_newest_first_with_ids_breaking_ties(query: QueryApp, test_db: Database) -> None:
    moment = datetime.now(UTC)
    documents = [stored_document(created_at=moment) for _ in range(3)]
    older = stored_document(created_at=moment - timedelta(seconds=1))
    await test_db["documents"].insert_many([*documents, older])

    response = await query.client.get("/v1/documents")

    ids = [item["id"] for item in response.json()["data"]["items"]]
    assert ids == [*sorted((doc["_id"] for doc in documents), reverse=True), older["_id"]]


async def test_each_filter_selects_what_it_names(query: QueryApp, test_db: Database) -> None:
    now = datetime.now(UTC)
    positive = stored_document(
        status="analyzed",
        analysis=analysis(label="positive", language="en", keywords=["Revenue", "growth"]),
        source="crm",
        created_at=now - timedelta(hours=3),
    )
    negative = stored_document(
        status="analyzed",
        analysis=analysis(label="negative", language="de", keywords=["outage"]),
        source="email",
        created_at=now - timedelta(hours=2),
    )
    queued = stored_document(status="queued", source="email", created_at=now - timedelta(hours=1))
    await test_db["documents"].insert_many([positive, negative, queued])

    async def ids(**params: str) -> list[str]:
        response = await query.client.get("/v1/documents", params=params)
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["data"]["items"]]

    assert await ids(status="queued") == [queued["_id"]]
    assert await ids(status="analyzed") == [negative["_id"], positive["_id"]]
    assert await ids(sentiment="negative") == [negative["_id"]]
    assert await ids(language="DE") == [negative["_id"]]
    assert await ids(keyword="revenue") == [positive["_id"]]  # stored as "Revenue"
    assert await ids(keyword="REVENUE") == [positive["_id"]]
    assert await ids(keyword="revenu") == []  # whole keywords only
    assert await ids(keyword="growth") == [positive["_id"]]
    assert await ids(source="email") == [queued["_id"], negative["_id"]]
    window = {
        "created_after": (now - timedelta(hours=2)).isoformat(),
        "created_before": (now - timedelta(hours=1)).isoformat(),
    }
    assert await ids(**window) == [negative["_id"]]  # after inclusive, before exclusive
    assert await ids(status="analyzed", source="crm") == [positive["_id"]]
    items = (await query.client.get("/v1/documents")).json()["data"]["items"]
    assert all("content" not in item for item in items)


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({"status": "done"}, 422, "invalid_filter"),
        ({"sentiment": "happy"}, 422, "invalid_filter"),
        ({"language": "english"}, 422, "invalid_filter"),
        ({"created_after": "yesterday"}, 422, "invalid_filter"),
        # Found by schemathesis: pydantic read these as epoch seconds, the document says RFC 3339.
        ({"created_before": "0.5"}, 422, "invalid_filter"),
        ({"created_after": "1700000000"}, 422, "invalid_filter"),
        (
            {"created_after": "2026-02-01T00:00:00Z", "created_before": "2026-01-01T00:00:00Z"},
            422,
            "invalid_filter",
        ),
        ({"keyword": "  "}, 422, "invalid_filter"),
        ({"limit": "0"}, 422, "invalid_limit"),
        ({"limit": "101"}, 422, "invalid_limit"),
        ({"limit": "ten"}, 422, "invalid_limit"),
        ({"cursor": "not-a-cursor"}, 400, "invalid_cursor"),
    ],
)
async def test_bad_filters_get_specific_codes(
    query: QueryApp, test_db: Database, params: dict[str, str], status: int, code: str
) -> None:
    response = await query.client.get("/v1/documents", params=params)

    assert response.status_code == status
    body = response.json()
    assert body["success"] is False
    assert body["error"]["code"] == code
    assert body["meta"]["request_id"] == response.headers["x-request-id"]


async def test_unknown_or_malformed_id_is_document_not_found(
    query: QueryApp, test_db: Database
) -> None:
    for document_id in (uuid.uuid4().hex, "bad%20id", "x" * 65):
        response = await query.client.get(f"/v1/documents/{document_id}")
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "document_not_found"

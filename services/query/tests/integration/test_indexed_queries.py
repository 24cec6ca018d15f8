"""Every read the query service makes is answered from an index that leads with the tenant
(see the README), and the indexes of earlier releases are dropped."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo import DESCENDING, AsyncMongoClient, IndexModel

from docflow.common.documents import DOCUMENTS, DocumentStatus
from docflow.common.indexes import RETIRED_INDEXES, ensure_indexes
from docflow.query.documents.cursor import encode_cursor
from docflow.query.documents.filters import build_list_query
from docflow.query.documents.repository import DocumentRepository
from docflow.query.stats.repository import StatsRepository
from docflow.testing import Isolation
from docflow.testing.plans import CommandLog, unindexed

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 30, tzinfo=UTC)


def stored(i: int, *, tenant: str) -> dict[str, Any]:
    return {
        "_id": f"{tenant}-{i:032x}",
        "tenant_id": tenant,
        "status": "analyzed" if i % 2 else "queued",
        "source": "crm",
        "created_at": NOW - timedelta(minutes=i),
        "analysis": {
            "language": "en" if tenant == "acme" else "de",
            "sentiment": {"label": "positive"},
            "keywords": ["Acme", "revenue"],
        }
        if i % 2
        else None,
    }


async def test_gets_lists_and_stats_use_indexes_within_the_tenant(
    isolation: Isolation, command_log: tuple[AsyncMongoClient[Any], CommandLog]
) -> None:
    client, log = command_log
    collection = client[isolation.database][DOCUMENTS]
    await ensure_indexes(collection)
    await collection.insert_many(
        [stored(i, tenant=tenant) for tenant in ("acme", "globex") for i in range(50)]
    )
    log.sent.clear()
    documents = DocumentRepository(collection)

    assert await documents.find(f"acme-{7:032x}", tenant="acme", with_content=True) is not None
    assert await documents.find(f"acme-{7:032x}", tenant="globex", with_content=True) is None
    cursor = encode_cursor(created_at=NOW - timedelta(minutes=9), document_id=f"acme-{9:032x}")
    queries: list[dict[str, Any]] = [
        {},
        {"status": DocumentStatus.ANALYZED},
        {"status": DocumentStatus.ANALYZED, "sentiment": "positive", "keyword": "acme"},
        {"language": "en", "cursor": cursor},
        {"source": "crm", "created_after": NOW - timedelta(hours=1)},
        {"keyword": "revenue", "created_before": NOW},
    ]
    for filters in queries:
        query = build_list_query(limit=5, max_limit=100, **filters)
        page = await documents.find_page(query, tenant="acme")
        assert page, filters
        assert {document["tenant_id"] for document in page} == {"acme"}
    counts = await StatsRepository(collection).counts(tenant="acme")
    assert (counts.total, counts.by_status["analyzed"], counts.by_language) == (50, 25, {"en": 25})

    assert len(log.sent) >= len(queries) + 2
    assert await unindexed(client, log) == []


async def test_indexes_of_earlier_releases_are_dropped(
    isolation: Isolation, command_log: tuple[AsyncMongoClient[Any], CommandLog]
) -> None:
    client, _ = command_log
    collection = client[isolation.database][DOCUMENTS]
    # The list index of the release before tenants, as it was created then.
    await collection.create_indexes(
        [IndexModel([("created_at", DESCENDING), ("_id", DESCENDING)], name=RETIRED_INDEXES[0])]
    )

    await ensure_indexes(collection)
    await ensure_indexes(collection)  # idempotent: nothing left to create or drop

    names = set(await collection.index_information())
    assert names.isdisjoint(RETIRED_INDEXES)
    assert {"tenant_created", "tenant_status_created", "created", "status"} <= names

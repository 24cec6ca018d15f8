"""Every read the query service makes is answered from an index (see the README)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from docflow.common.documents import DOCUMENTS, DocumentStatus
from docflow.common.indexes import ensure_indexes
from docflow.query.documents.cursor import encode_cursor
from docflow.query.documents.filters import build_list_query
from docflow.query.documents.repository import DocumentRepository
from docflow.query.stats.repository import StatsRepository
from docflow.testing import Isolation
from docflow.testing.plans import CommandLog, unindexed

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 30, tzinfo=UTC)


async def test_gets_lists_and_stats_use_indexes(
    isolation: Isolation, command_log: tuple[AsyncMongoClient[Any], CommandLog]
) -> None:
    client, log = command_log
    collection = client[isolation.database][DOCUMENTS]
    await ensure_indexes(collection)
    await collection.insert_many(
        [
            {
                "_id": f"{i:032x}",
                "status": "analyzed" if i % 2 else "queued",
                "source": "crm",
                "created_at": NOW - timedelta(minutes=i),
                "analysis": {
                    "language": "en",
                    "sentiment": {"label": "positive"},
                    "keywords": ["Acme", "revenue"],
                }
                if i % 2
                else None,
            }
            for i in range(50)
        ]
    )
    log.sent.clear()
    documents = DocumentRepository(collection)

    assert await documents.find(f"{7:032x}", with_content=True) is not None
    cursor = encode_cursor(created_at=NOW - timedelta(minutes=9), document_id=f"{9:032x}")
    queries: list[dict[str, Any]] = [
        {},
        {"status": DocumentStatus.ANALYZED},
        {"status": DocumentStatus.ANALYZED, "sentiment": "positive", "keyword": "acme"},
        {"language": "en", "cursor": cursor},
        {"source": "crm", "created_after": NOW - timedelta(hours=1)},
        {"keyword": "revenue", "created_before": NOW},
    ]
    for filters in queries:
        page = await documents.find_page(build_list_query(limit=5, max_limit=100, **filters))
        assert page, filters
    counts = await StatsRepository(collection).counts()
    assert (counts.total, counts.by_status["analyzed"], counts.by_language) == (50, 25, {"en": 25})

    assert len(log.sent) >= len(queries) + 1
    assert await unindexed(client, log) == []

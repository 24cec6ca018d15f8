"""Every read and write filter of the analysis service is answered from an index (see the
README)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from docflow.analysis.analyses import repository
from docflow.common.documents import DOCUMENTS, DocumentStatus
from docflow.testing import Isolation
from docflow.testing.plans import CommandLog, unindexed

pytestmark = pytest.mark.integration


async def test_loads_marks_and_lookups_use_indexes(
    isolation: Isolation, command_log: tuple[AsyncMongoClient[Any], CommandLog]
) -> None:
    client, log = command_log
    db = client[isolation.database]
    await repository.ensure_indexes(db)
    now = datetime.now(UTC)
    ids = [f"d{i}" for i in range(4)]
    await db[DOCUMENTS].insert_many(
        [
            {"_id": i, "tenant_id": "default", "content_hash": f"h-{i}", "status": "queued"}
            for i in ids
        ]
    )
    log.sent.clear()

    loaded = await repository.load_documents(db, ids)
    own, by_content = await repository.related_analyses(
        db, document_ids=ids, content_hashes=["h-d0"], model="m", prompt_version="v1"
    )
    assert (len(loaded), own, by_content) == (4, {}, {})
    record = {"document_id": "d0", "content_hash": "h-d0", "model": "m", "prompt_version": "v1"}
    await repository.insert_analyses(db, [{"_id": repository.analysis_id("d0", "v1"), **record}])
    await repository.mark_many_analyzed(db, analyses={"d0": {"summary": "s"}}, now=now)
    await repository.mark_unanalyzed(
        db, document_id="d1", status=DocumentStatus.DEFERRED, code="c", message="m", now=now
    )
    assert [d["_id"] for d in await repository.deferred_documents(db, limit=10)] == ["d1"]

    assert len(log.sent) >= 5
    assert await unindexed(client, log) == []

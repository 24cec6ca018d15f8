"""Every read and write filter of the ingest service is answered from an index (see the
README); the outbox checkpoints are one small document per replica and need none."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from docflow.ingest.documents.repository import OUTBOX, DocumentRepository
from docflow.testing import Isolation
from docflow.testing.plans import CommandLog, unindexed

pytestmark = pytest.mark.integration


async def test_duplicate_checks_and_outbox_recovery_use_indexes(
    isolation: Isolation, command_log: tuple[AsyncMongoClient[Any], CommandLog]
) -> None:
    client, log = command_log
    repository = DocumentRepository(client[isolation.database])
    await repository.ensure_indexes()
    now = datetime.now(UTC)
    records = [
        {
            "_id": f"d{i}",
            "tenant_id": "default",
            "content_hash": f"h{i}",
            "created_at": now,
            "ingested_by": "r1",
        }
        for i in range(5)
    ]
    assert await repository.insert_many(records) == [None] * 5
    log.sent.clear()

    assert await repository.find_by_hash(tenant_id="default", content_hash="h3") is not None
    await repository.save_checkpoint("r1", safe_before=now, heartbeat=now)
    assert await repository.stale_checkpoints(heartbeat_before=now + timedelta(seconds=1))
    since = await repository.stored_since(replica="r1", created_from=now - timedelta(seconds=5))
    assert len(since) == 5
    await repository.delete_checkpoint("r1")

    assert await unindexed(client, log, allowed=frozenset({OUTBOX})) == []

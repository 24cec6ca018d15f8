"""The replay ledger: collection `dlq_replays`, one record per replayed dead letter, keyed by
its place in the dead-letter topic (`{topic}:{partition}:{offset}`), so a second replay of the
same selection skips what the first one sent."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from docflow.common.clients import MongoDocument
from docflow.common.deadletters.letters import DeadLetter
from docflow.common.events import utc_now

REPLAYS = "dlq_replays"


async def already_replayed(db: AsyncDatabase[MongoDocument], ledger_ids: Iterable[str]) -> set[str]:
    ids = list(ledger_ids)
    if not ids:
        return set()
    cursor = db[REPLAYS].find({"_id": {"$in": ids}}, {"_id": 1})
    return {str(record["_id"]) async for record in cursor}


async def record_replay(
    db: AsyncDatabase[MongoDocument], letter: DeadLetter, *, request_id: str
) -> None:
    """Remember that `letter` went back to its source topic (a second record is a no-op)."""
    # Another operator may have replayed it at the same moment; downstream is idempotent.
    with contextlib.suppress(DuplicateKeyError):
        await db[REPLAYS].insert_one(
            {
                "_id": letter.ledger_id,
                "source_topic": letter.source_topic,
                "error_type": letter.error_type,
                "document_id": letter.document_id,
                "request_id": request_id,
                "replayed_at": utc_now(),
            }
        )

"""Every MongoDB query of the analysis service (collections `documents` and `analyses`).

Writes are idempotent: analyses are keyed `{document_id}:{prompt_version}` and inserted only
once ($setOnInsert), documents change status only if they are not analyzed yet, so a
redelivered message changes nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase

from docflow.common.clients import MongoDocument
from docflow.common.documents import ANALYSES, DOCUMENTS, DocumentStatus

Database = AsyncDatabase[MongoDocument]

_DOCUMENT_FIELDS = {
    "_id": 1,
    "tenant_id": 1,
    "title": 1,
    "content": 1,
    "content_hash": 1,
    "status": 1,
    "analysis": 1,
}


def analysis_id(document_id: str, prompt_version: str) -> str:
    return f"{document_id}:{prompt_version}"


async def ensure_indexes(db: Database) -> None:
    # Finding a reusable analysis for identical content must not scan the collection.
    await db[ANALYSES].create_index(
        [("content_hash", ASCENDING), ("model", ASCENDING), ("prompt_version", ASCENDING)],
        name="reuse_by_content",
    )
    await db[DOCUMENTS].create_index([("status", ASCENDING)], name="status")


async def load_documents(db: Database, ids: list[str]) -> dict[str, MongoDocument]:
    cursor = db[DOCUMENTS].find({"_id": {"$in": ids}}, _DOCUMENT_FIELDS)
    return {doc["_id"]: doc async for doc in cursor}


async def stored_analyses(
    db: Database, document_ids: list[str], prompt_version: str
) -> dict[str, MongoDocument]:
    keys = [analysis_id(i, prompt_version) for i in document_ids]
    cursor = db[ANALYSES].find({"_id": {"$in": keys}})
    return {record["document_id"]: record async for record in cursor}


async def reusable_analyses(
    db: Database, *, content_hashes: list[str], model: str, prompt_version: str
) -> dict[str, MongoDocument]:
    """One stored analysis per content hash made by this model and prompt version."""
    if not content_hashes:
        return {}
    cursor = db[ANALYSES].find(
        {
            "content_hash": {"$in": content_hashes},
            "model": model,
            "prompt_version": prompt_version,
        }
    )
    found: dict[str, MongoDocument] = {}
    async for record in cursor:
        found.setdefault(record["content_hash"], record)
    return found


async def insert_analysis(db: Database, record: MongoDocument) -> None:
    """Upsert keyed by id; an existing record wins (a redelivery must not overwrite it)."""
    await db[ANALYSES].update_one({"_id": record["_id"]}, {"$setOnInsert": record}, upsert=True)


async def mark_analyzed(
    db: Database, *, document_id: str, analysis: dict[str, Any], now: datetime
) -> None:
    await db[DOCUMENTS].update_one(
        {"_id": document_id, "status": {"$ne": DocumentStatus.ANALYZED.value}},
        {
            "$set": {
                "status": DocumentStatus.ANALYZED.value,
                "analysis": analysis,
                "error": None,
                "updated_at": now,
            }
        },
    )


async def mark_unanalyzed(
    db: Database,
    *,
    document_id: str,
    status: DocumentStatus,
    code: str,
    message: str,
    now: datetime,
) -> None:
    """`failed` or `deferred`, with the reason; never downgrades an analyzed document."""
    await db[DOCUMENTS].update_one(
        {"_id": document_id, "status": {"$ne": DocumentStatus.ANALYZED.value}},
        {
            "$set": {
                "status": status.value,
                "error": {"code": code, "message": message},
                "updated_at": now,
            }
        },
    )


async def deferred_documents(db: Database, *, limit: int) -> list[MongoDocument]:
    cursor = db[DOCUMENTS].find(
        {"status": DocumentStatus.DEFERRED.value},
        {"_id": 1, "tenant_id": 1, "content_hash": 1},
        limit=limit,
    )
    return [doc async for doc in cursor]

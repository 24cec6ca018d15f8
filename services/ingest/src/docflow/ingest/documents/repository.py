"""Every MongoDB query of the ingest service.

Outages (no server, timeouts) surface as StorageUnavailable so callers can answer 503 or leave
a Kafka message uncommitted; a duplicate surfaces as DuplicateDocument.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import ConnectionFailure, DuplicateKeyError, PyMongoError

from docflow.common.clients import MongoDocument
from docflow.common.documents import DOCUMENTS
from docflow.ingest.errors import StorageUnavailable

UNIQUE_CONTENT_INDEX = "tenant_content_hash_unique"
OUTBOX_INDEX = "published_created_at"
_SUMMARY = {
    "_id": 1,
    "status": 1,
    "published": 1,
    "created_at": 1,
    "tenant_id": 1,
    "content_hash": 1,
}


class DuplicateDocument(Exception):
    """The tenant already has a document with this content hash."""


def is_outage(exc: PyMongoError) -> bool:
    # Client-side operation timeouts (timeoutMS) carry `timeout`; lost servers are failures.
    return isinstance(exc, ConnectionFailure) or bool(getattr(exc, "timeout", False))


@asynccontextmanager
async def _storage_errors() -> AsyncIterator[None]:
    try:
        yield
    except DuplicateKeyError as exc:
        raise DuplicateDocument() from exc
    except PyMongoError as exc:
        if is_outage(exc):
            raise StorageUnavailable() from exc
        raise


class DocumentRepository:
    def __init__(self, database: AsyncDatabase[MongoDocument]) -> None:
        self.collection: AsyncCollection[MongoDocument] = database[DOCUMENTS]

    async def ensure_indexes(self) -> None:
        async with _storage_errors():
            await self.collection.create_index(
                [("tenant_id", ASCENDING), ("content_hash", ASCENDING)],
                unique=True,
                name=UNIQUE_CONTENT_INDEX,
            )
            await self.collection.create_index(
                [("published", ASCENDING), ("created_at", ASCENDING)], name=OUTBOX_INDEX
            )

    async def insert(self, document: MongoDocument) -> None:
        async with _storage_errors():
            await self.collection.insert_one(document)

    async def find_by_hash(self, *, tenant_id: str, content_hash: str) -> MongoDocument | None:
        async with _storage_errors():
            return await self.collection.find_one(
                {"tenant_id": tenant_id, "content_hash": content_hash}, _SUMMARY
            )

    async def mark_published(self, document_id: str) -> None:
        async with _storage_errors():
            await self.collection.update_one({"_id": document_id}, {"$set": {"published": True}})

    async def find_unpublished(
        self, *, created_before: datetime, limit: int
    ) -> list[MongoDocument]:
        query: dict[str, Any] = {"published": False, "created_at": {"$lt": created_before}}
        async with _storage_errors():
            cursor = self.collection.find(query, _SUMMARY)
            return await cursor.sort("created_at", ASCENDING).limit(limit).to_list(limit)

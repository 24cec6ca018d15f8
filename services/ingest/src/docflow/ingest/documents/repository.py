"""Every MongoDB query of the ingest service.

Two collections: `documents` (shared by all services) and `ingest_outbox`, one checkpoint
per ingest replica (see outbox.py).
Outages (no server, timeouts) surface as StorageUnavailable so callers can answer 503 or leave
a Kafka message uncommitted; a duplicate surfaces as DuplicateDocument.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError, PyMongoError

from docflow.common.clients import MongoDocument, is_mongo_outage
from docflow.common.documents import DOCUMENTS
from docflow.common.indexes import ensure_indexes
from docflow.ingest.errors import StorageUnavailable

OUTBOX = "ingest_outbox"
_DUPLICATE_KEY = 11000
_SUMMARY = {"_id": 1, "status": 1, "created_at": 1, "tenant_id": 1, "content_hash": 1}


class DuplicateDocument(Exception):
    """The tenant already has a document with this content hash."""


@asynccontextmanager
async def _storage_errors() -> AsyncIterator[None]:
    try:
        yield
    except DuplicateKeyError as exc:
        raise DuplicateDocument() from exc
    except PyMongoError as exc:
        if is_mongo_outage(exc):
            raise StorageUnavailable() from exc
        raise


class DocumentRepository:
    def __init__(self, database: AsyncDatabase[MongoDocument]) -> None:
        self.documents: AsyncCollection[MongoDocument] = database[DOCUMENTS]
        self.outbox: AsyncCollection[MongoDocument] = database[OUTBOX]

    async def ensure_indexes(self) -> None:
        async with _storage_errors():
            await ensure_indexes(self.documents)

    async def insert_many(self, records: list[MongoDocument]) -> list[BaseException | None]:
        """Insert in one command; per record None, or DuplicateDocument / the write's error."""
        results: list[BaseException | None] = [None] * len(records)
        async with _storage_errors():
            try:
                await self.documents.insert_many(records, ordered=False)
            except BulkWriteError as exc:
                for error in exc.details.get("writeErrors", []):
                    results[error["index"]] = (
                        DuplicateDocument()
                        if error.get("code") == _DUPLICATE_KEY
                        else RuntimeError(f"write error {error.get('code')}")
                    )
        return results

    # Every query of a tenant's documents takes the tenant (keyword-only, required); the outbox
    # queries below are the service's own bookkeeping across tenants.
    async def find_by_hash(self, *, tenant_id: str, content_hash: str) -> MongoDocument | None:
        async with _storage_errors():
            return await self.documents.find_one(
                {"tenant_id": tenant_id, "content_hash": content_hash}, _SUMMARY
            )

    async def save_checkpoint(
        self, replica: str, *, safe_before: datetime, heartbeat: datetime
    ) -> None:
        async with _storage_errors():
            await self.outbox.replace_one(
                {"_id": replica},
                {"safe_before": safe_before, "heartbeat": heartbeat},
                upsert=True,
            )

    async def stale_checkpoints(self, *, heartbeat_before: datetime) -> list[MongoDocument]:
        async with _storage_errors():
            cursor = self.outbox.find({"heartbeat": {"$lt": heartbeat_before}})
            return await cursor.to_list(None)

    async def delete_checkpoint(self, replica: str) -> None:
        async with _storage_errors():
            await self.outbox.delete_one({"_id": replica})

    async def stored_since(self, *, replica: str, created_from: datetime) -> list[MongoDocument]:
        # Rare (a replica stopped uncleanly): the `created_at` index reads the few seconds since
        # the checkpoint, and the replica is checked on those only (no index of its own, since
        # every index costs each insert).
        query: dict[str, Any] = {"created_at": {"$gte": created_from}, "ingested_by": replica}
        async with _storage_errors():
            return await self.documents.find(query, _SUMMARY).to_list(None)

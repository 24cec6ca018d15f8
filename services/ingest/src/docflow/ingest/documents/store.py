"""The document store as the request path sees it: batched inserts and outbox bookkeeping.

A document and its outbox entry are written in bulk with whatever else is being submitted at
the same moment (see writer.py). Once Kafka acknowledges the event the outbox entry is removed
in the background: the caller does not wait for that, and if it is lost the sweeper publishes
the event once more (consumers are idempotent per document id).
"""

from __future__ import annotations

from collections.abc import Sequence

from docflow.common.clients import MongoDocument
from docflow.ingest.documents.repository import DocumentRepository
from docflow.ingest.documents.writer import BatchWriter

# One bulk command carries at most this many documents (FerretDB inserts in batches of 100).
MAX_BATCH = 100


def outbox_entry(record: MongoDocument) -> MongoDocument:
    return {
        "_id": record["_id"],
        "tenant_id": record["tenant_id"],
        "content_hash": record["content_hash"],
        "created_at": record["created_at"],
    }


class DocumentStore:
    def __init__(self, repository: DocumentRepository) -> None:
        self.repository = repository
        self._inserts: BatchWriter[MongoDocument, None] = BatchWriter(
            self._write_documents, max_batch=MAX_BATCH, name="documents"
        )
        self._settles: BatchWriter[str, None] = BatchWriter(
            self._remove_pending, max_batch=MAX_BATCH, name="outbox"
        )

    async def _write_documents(
        self, records: list[MongoDocument]
    ) -> Sequence[BaseException | None]:
        await self.repository.add_pending([outbox_entry(record) for record in records])
        return await self.repository.insert_many(records)

    async def _remove_pending(self, document_ids: list[str]) -> Sequence[BaseException | None]:
        await self.repository.remove_pending(document_ids)
        return [None] * len(document_ids)

    async def insert(self, record: MongoDocument) -> None:
        """Store a new document, pending publication; raises DuplicateDocument."""
        await self._inserts.submit(record)

    def settle(self, document_id: str) -> None:
        """The event is out (or there is none to send): drop the outbox entry, in background."""
        self._settles.submit_nowait(document_id)

    async def close(self) -> None:
        await self._inserts.close()
        await self._settles.close()

"""The one path every document takes, whichever way it arrived (JSON, upload, Kafka).

Persist first, publish second. The document is inserted together with an entry in the outbox
collection, DocumentIngested is published, and only then the outbox entry is removed. If
publishing fails the document stays stored and pending, and the outbox sweeper publishes it
later: a stored document is never left without its event, and nothing is published for a
failed write. (The outbox is a separate, small collection rather than a `published` flag on
the document because FerretDB rewrites a document by scanning its whole collection: an update
per document would make ingestion slower with every document stored.)
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from docflow.common.clients import MongoDocument
from docflow.common.documents import DocumentStatus
from docflow.common.events import IncomingDocument, new_id, utc_now
from docflow.ingest.documents.publisher import IngestedPublisher
from docflow.ingest.documents.repository import DuplicateDocument
from docflow.ingest.documents.schemas import IngestOutcome, Origin, PreparedDocument
from docflow.ingest.documents.store import DocumentStore
from docflow.ingest.documents.validation import prepare_document
from docflow.ingest.errors import StorageUnavailable
from docflow.ingest.settings import IngestSettings

logger = logging.getLogger(__name__)


def new_record(prepared: PreparedDocument, *, origin: Origin, now: datetime) -> MongoDocument:
    return {
        "_id": new_id(),
        "tenant_id": prepared.tenant_id,
        "title": prepared.title,
        "content": prepared.content,
        "source": prepared.source,
        "external_id": prepared.external_id,
        "content_type": prepared.content_type.value,
        "metadata": prepared.metadata,
        "content_hash": prepared.content_hash,
        "status": DocumentStatus.QUEUED.value,
        "created_at": now,
        "updated_at": now,
        "analysis": None,
        "error": None,
        "origin": origin,
    }


async def publish_pending(
    *, entry: MongoDocument, store: DocumentStore, publisher: IngestedPublisher
) -> bool:
    """Publish the event of a stored document and settle its outbox entry."""
    published = await publisher.publish(
        document_id=entry["_id"], tenant_id=entry["tenant_id"], content_hash=entry["content_hash"]
    )
    if published:
        store.settle(entry["_id"])
    return published


async def ingest_document(
    *,
    document: IncomingDocument,
    origin: Origin,
    settings: IngestSettings,
    store: DocumentStore,
    publisher: IngestedPublisher,
    republish_pending: bool = False,
) -> IngestOutcome:
    """Validate, sanitize, store once per (tenant, content) and queue for analysis."""
    prepared = prepare_document(document, settings=settings)
    return await store_prepared(
        prepared=prepared,
        origin=origin,
        settings=settings,
        store=store,
        publisher=publisher,
        republish_pending=republish_pending,
    )


async def store_prepared(
    *,
    prepared: PreparedDocument,
    origin: Origin,
    settings: IngestSettings,
    store: DocumentStore,
    publisher: IngestedPublisher,
    republish_pending: bool = False,
) -> IngestOutcome:
    record = new_record(prepared, origin=origin, now=utc_now())
    try:
        await store.insert(record)
    except DuplicateDocument:
        store.settle(record["_id"])  # its outbox entry was written in vain
        return await _existing(
            prepared=prepared,
            settings=settings,
            store=store,
            publisher=publisher,
            republish_pending=republish_pending,
        )
    published = await publish_pending(entry=record, store=store, publisher=publisher)
    return IngestOutcome(
        document_id=record["_id"],
        status=DocumentStatus.QUEUED.value,
        duplicate=False,
        published=published,
    )


async def _existing(
    *,
    prepared: PreparedDocument,
    settings: IngestSettings,
    store: DocumentStore,
    publisher: IngestedPublisher,
    republish_pending: bool,
) -> IngestOutcome:
    """The first document with this content; no second event unless the first never went out."""
    repository = store.repository
    found = await repository.find_by_hash(
        tenant_id=prepared.tenant_id, content_hash=prepared.content_hash
    )
    if found is None:  # the duplicate vanished between insert and read: let the caller retry
        raise StorageUnavailable("The document store changed concurrently; try again.")
    published = not await repository.is_pending(found["_id"])
    stale = found["created_at"] < utc_now() - timedelta(seconds=settings.outbox_grace_s)
    if not published and (republish_pending or stale):
        # Its first publish failed (or, when forced, may still be in flight): help the outbox.
        published = await publish_pending(entry=found, store=store, publisher=publisher)
    return IngestOutcome(
        document_id=found["_id"],
        status=str(found.get("status", DocumentStatus.QUEUED.value)),
        duplicate=True,
        published=published,
    )

"""The one path every document takes, whichever way it arrived (JSON, upload, Kafka).

Persist first, publish second: the document is inserted with `published: false` (a
transactional outbox flag), DocumentIngested is published, and only then the flag is set. If
publishing fails the document stays stored and the outbox sweeper publishes it later, so a
stored document is never left without its event, and nothing is published for a failed write.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from docflow.common.clients import MongoDocument
from docflow.common.documents import DocumentStatus
from docflow.common.events import IncomingDocument, new_id, utc_now
from docflow.ingest.documents.publisher import IngestedPublisher
from docflow.ingest.documents.repository import DocumentRepository, DuplicateDocument
from docflow.ingest.documents.schemas import IngestOutcome, Origin, PreparedDocument
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
        "published": False,
    }


async def publish_stored(
    *, record: MongoDocument, repository: DocumentRepository, publisher: IngestedPublisher
) -> bool:
    """Publish the event of a stored document and set its outbox flag; False if not published."""
    published = await publisher.publish(
        document_id=record["_id"],
        tenant_id=record["tenant_id"],
        content_hash=record["content_hash"],
    )
    if not published:
        return False
    try:
        await repository.mark_published(record["_id"])
    except StorageUnavailable:
        # The event is out; at worst the sweeper publishes it once more (consumers are
        # idempotent per document id).
        logger.warning("could not set published flag", extra={"document_id": record["_id"]})
    return True


async def ingest_document(
    *,
    document: IncomingDocument,
    origin: Origin,
    settings: IngestSettings,
    repository: DocumentRepository,
    publisher: IngestedPublisher,
    republish_pending: bool = False,
) -> IngestOutcome:
    """Validate, sanitize, store once per (tenant, content) and queue for analysis."""
    prepared = prepare_document(document, settings=settings)
    return await store_prepared(
        prepared=prepared,
        origin=origin,
        settings=settings,
        repository=repository,
        publisher=publisher,
        republish_pending=republish_pending,
    )


async def store_prepared(
    *,
    prepared: PreparedDocument,
    origin: Origin,
    settings: IngestSettings,
    repository: DocumentRepository,
    publisher: IngestedPublisher,
    republish_pending: bool = False,
) -> IngestOutcome:
    record = new_record(prepared, origin=origin, now=utc_now())
    try:
        await repository.insert(record)
    except DuplicateDocument:
        return await _existing(
            prepared=prepared,
            settings=settings,
            repository=repository,
            publisher=publisher,
            republish_pending=republish_pending,
        )
    published = await publish_stored(record=record, repository=repository, publisher=publisher)
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
    repository: DocumentRepository,
    publisher: IngestedPublisher,
    republish_pending: bool,
) -> IngestOutcome:
    """The first document with this content; no second event unless the first never went out."""
    found = await repository.find_by_hash(
        tenant_id=prepared.tenant_id, content_hash=prepared.content_hash
    )
    if found is None:  # the duplicate vanished between insert and read: let the caller retry
        raise StorageUnavailable("The document store changed concurrently; try again.")
    published = bool(found.get("published", True))
    stale = found["created_at"] < utc_now() - timedelta(seconds=settings.outbox_grace_s)
    if not published and (republish_pending or stale):
        # Its first publish failed (or is still in flight, when forced): help the outbox.
        published = await publish_stored(record=found, repository=repository, publisher=publisher)
    return IngestOutcome(
        document_id=found["_id"],
        status=str(found.get("status", DocumentStatus.QUEUED.value)),
        duplicate=True,
        published=published,
    )

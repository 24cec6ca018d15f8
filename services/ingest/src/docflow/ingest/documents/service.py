"""The one path every document takes, whichever way it arrived (JSON, upload, Kafka).

Persist first, publish second: the document is inserted, then DocumentIngested is published.
If publishing fails the document stays stored and the outbox (outbox.py) publishes it later,
so a stored document is never left without its event, and nothing is published for a failed
write. REST callers get their answer once the document is stored (`await_publish=False`):
from then on the outbox answers for the event. The Kafka consumer waits for the broker's
acknowledgement, because it commits the offset right after.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from functools import partial

from docflow.common.clients import MongoDocument
from docflow.common.documents import DocumentStatus
from docflow.common.events import IncomingDocument, new_id, utc_now
from docflow.ingest.documents.offload import prepare_off_loop
from docflow.ingest.documents.quota import TenantQuota
from docflow.ingest.documents.repository import DuplicateDocument
from docflow.ingest.documents.schemas import IngestOutcome, Origin, PreparedDocument
from docflow.ingest.documents.store import DocumentStore
from docflow.ingest.errors import EventBacklogFull, StorageUnavailable, TenantQuotaExceeded
from docflow.ingest.settings import IngestSettings


def new_record(
    prepared: PreparedDocument, *, origin: Origin, replica: str, now: datetime
) -> MongoDocument:
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
        # The ingest replica that stored it: its outbox answers for the event.
        "ingested_by": replica,
    }


async def ingest_document(
    *,
    document: IncomingDocument,
    tenant_id: str,
    origin: Origin,
    settings: IngestSettings,
    store: DocumentStore,
    quota: TenantQuota | None,
    await_publish: bool = False,
    republish_pending: bool = False,
) -> IngestOutcome:
    """Validate, sanitize, store once per (tenant, content) and queue for analysis.

    `tenant_id` was decided by the caller (tenancy.py). A new document counts against `quota`
    (REST) and a duplicate does not; `None` counts nothing (documents.incoming).
    """
    prepared = await prepare_off_loop(document, tenant_id=tenant_id, settings=settings)
    if store.outbox.backlog >= settings.outbox_max_backlog:
        raise EventBacklogFull()
    store_it = partial(
        store_prepared,
        prepared=prepared,
        origin=origin,
        store=store,
        await_publish=await_publish,
        republish_pending=republish_pending,
    )
    if quota is None or not quota.enabled:
        return await store_it()
    return await _store_counted(store_it, prepared=prepared, store=store, quota=quota)


async def _store_counted(
    store_it: Callable[[], Awaitable[IngestOutcome]],
    *,
    prepared: PreparedDocument,
    store: DocumentStore,
    quota: TenantQuota,
) -> IngestOutcome:
    """Store within the tenant's daily quota; only a new document keeps its slot."""
    try:
        reservation = await quota.reserve(prepared.tenant_id)
    except TenantQuotaExceeded:
        # A retry of a document stored earlier still gets its answer: duplicates are free.
        found = await store.repository.find_by_hash(
            tenant_id=prepared.tenant_id, content_hash=prepared.content_hash
        )
        if found is None:
            raise
        return _duplicate_of(found, store=store)
    outcome: IngestOutcome | None = None
    try:
        outcome = await store_it()
    finally:
        if outcome is None or outcome.duplicate:
            await quota.release(reservation)
    return outcome


async def store_prepared(
    *,
    prepared: PreparedDocument,
    origin: Origin,
    store: DocumentStore,
    await_publish: bool,
    republish_pending: bool = False,
) -> IngestOutcome:
    record = new_record(prepared, origin=origin, replica=store.outbox.replica_id, now=utc_now())
    try:
        await store.insert(record)
    except DuplicateDocument:
        return await _existing(prepared=prepared, store=store, republish_pending=republish_pending)
    if await_publish:
        published = await store.outbox.publish(record)
    else:
        store.outbox.publish_later(record)
        published = True  # as far as the caller is concerned: the outbox owns it now
    return IngestOutcome(
        document_id=record["_id"],
        status=DocumentStatus.QUEUED.value,
        duplicate=False,
        published=published,
    )


async def _existing(
    *, prepared: PreparedDocument, store: DocumentStore, republish_pending: bool
) -> IngestOutcome:
    """The first document with this content; no second event unless the first never went out."""
    found = await store.repository.find_by_hash(
        tenant_id=prepared.tenant_id, content_hash=prepared.content_hash
    )
    if found is None:  # the duplicate vanished between insert and read: let the caller retry
        raise StorageUnavailable("The document store changed concurrently; try again.")
    if republish_pending and store.outbox.is_failed(found["_id"]):
        # A redelivered Kafka message whose first publish failed: try again now.
        return _duplicate_of(found, store=store, published=await store.outbox.publish(found))
    return _duplicate_of(found, store=store)


def _duplicate_of(
    found: MongoDocument, *, store: DocumentStore, published: bool | None = None
) -> IngestOutcome:
    return IngestOutcome(
        document_id=found["_id"],
        status=str(found.get("status", DocumentStatus.QUEUED.value)),
        duplicate=True,
        published=not store.outbox.is_failed(found["_id"]) if published is None else published,
    )

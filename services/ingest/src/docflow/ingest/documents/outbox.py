"""The outbox sweeper: publishes stored documents whose DocumentIngested never went out."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from docflow.common.events import utc_now
from docflow.ingest.documents.publisher import IngestedPublisher
from docflow.ingest.documents.service import publish_pending
from docflow.ingest.documents.store import DocumentStore
from docflow.ingest.settings import IngestSettings

logger = logging.getLogger(__name__)

# An entry whose document never appeared (the insert failed after the entry was written) is
# dropped once it is this many grace periods old.
_ORPHAN_GRACE_FACTOR = 6


async def sweep_once(
    *, settings: IngestSettings, store: DocumentStore, publisher: IngestedPublisher
) -> int:
    """Publish pending documents older than the grace period; returns how many went out."""
    now = utc_now()
    grace = timedelta(seconds=settings.outbox_grace_s)
    # The grace period leaves in-flight requests time to publish their own event.
    pending = await store.repository.find_pending(
        created_before=now - grace, limit=settings.outbox_batch_size
    )
    published = 0
    for entry in pending:
        if not await store.repository.document_exists(entry["_id"]):
            if entry["created_at"] < now - grace * _ORPHAN_GRACE_FACTOR:
                await store.repository.remove_pending([entry["_id"]])
            continue
        if not await publish_pending(entry=entry, store=store, publisher=publisher):
            break  # the broker is down: try again next round rather than hammering it
        published += 1
    if pending:
        logger.info("outbox sweep", extra={"pending": len(pending), "published": published})
    return published


async def run_sweeper(
    *, settings: IngestSettings, store: DocumentStore, publisher: IngestedPublisher
) -> None:
    """Sweep forever at the configured interval (cancelled at shutdown)."""
    while True:
        await asyncio.sleep(settings.outbox_sweep_interval_s)
        try:
            await sweep_once(settings=settings, store=store, publisher=publisher)
        except Exception:
            logger.exception("outbox sweep failed")

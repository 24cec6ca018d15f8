"""The outbox sweeper: publishes stored documents whose DocumentIngested never went out."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from docflow.common.events import utc_now
from docflow.ingest.documents.publisher import IngestedPublisher
from docflow.ingest.documents.repository import DocumentRepository
from docflow.ingest.documents.service import publish_stored
from docflow.ingest.settings import IngestSettings

logger = logging.getLogger(__name__)


async def sweep_once(
    *, settings: IngestSettings, repository: DocumentRepository, publisher: IngestedPublisher
) -> int:
    """Publish pending documents older than the grace period; returns how many went out."""
    # The grace period leaves in-flight requests time to publish their own event.
    cutoff = utc_now() - timedelta(seconds=settings.outbox_grace_s)
    pending = await repository.find_unpublished(
        created_before=cutoff, limit=settings.outbox_batch_size
    )
    published = 0
    for record in pending:
        if await publish_stored(record=record, repository=repository, publisher=publisher):
            published += 1
        else:
            break  # the broker is down: try again next round rather than hammering it
    if pending:
        logger.info("outbox sweep", extra={"pending": len(pending), "published": published})
    return published


async def run_sweeper(
    *, settings: IngestSettings, repository: DocumentRepository, publisher: IngestedPublisher
) -> None:
    """Sweep forever at the configured interval (cancelled at shutdown)."""
    while True:
        await asyncio.sleep(settings.outbox_sweep_interval_s)
        try:
            await sweep_once(settings=settings, repository=repository, publisher=publisher)
        except Exception:
            logger.exception("outbox sweep failed")

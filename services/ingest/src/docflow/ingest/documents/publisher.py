"""Publishing DocumentIngested, bounded in time so an unreachable broker cannot hang a request."""

from __future__ import annotations

import asyncio
import logging

from faststream.kafka import KafkaBroker

from docflow.common.events import DocumentIngested, Topic
from docflow.common.kafka import publish_event
from docflow.ingest.settings import IngestSettings

logger = logging.getLogger(__name__)


class IngestedPublisher:
    def __init__(self, broker: KafkaBroker, settings: IngestSettings) -> None:
        self.broker = broker
        self.settings = settings

    async def publish(self, *, document_id: str, tenant_id: str, content_hash: str) -> bool:
        """True once the broker acknowledged the event; False (logged) when it did not."""
        event = DocumentIngested(
            document_id=document_id, tenant_id=tenant_id, content_hash=content_hash
        )
        try:
            # asyncio.timeout, not wait_for: no extra task per event on this hot path.
            async with asyncio.timeout(self.settings.publish_timeout_s):
                await publish_event(
                    self.broker, self.settings, Topic.INGESTED, event, key=document_id
                )
        except Exception as exc:
            # The document is stored with published=false: the outbox sweeper retries it.
            logger.warning(
                "publishing DocumentIngested failed",
                extra={"document_id": document_id, "error": type(exc).__name__},
            )
            return False
        return True

"""The outbox's bookkeeping, with stand-ins for the broker and the store (pure logic)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from docflow.common.events import utc_now
from docflow.common.publishing import OutgoingEvent
from docflow.ingest.documents.outbox import Outbox
from docflow.ingest.settings import IngestSettings

pytestmark = pytest.mark.unit


class FlakyPublisher:
    def __init__(self) -> None:
        self.up = False
        self.sent: list[str] = []

    async def publish_many(self, events: list[OutgoingEvent]) -> list[bool]:
        if self.up:
            self.sent.extend(event.document_id for event in events)
        return [self.up] * len(events)


class Checkpoints:
    def __init__(self) -> None:
        self.saved: dict[str, datetime] = {}

    async def save_checkpoint(self, replica: str, *, safe_before: datetime, heartbeat: Any) -> None:
        self.saved[replica] = safe_before

    async def stale_checkpoints(self, *, heartbeat_before: datetime) -> list[Any]:
        return []


def record(document_id: str, created_at: datetime) -> dict[str, Any]:
    return {"_id": document_id, "tenant_id": "t", "content_hash": "h", "created_at": created_at}


def new_outbox() -> tuple[Outbox, FlakyPublisher, Checkpoints]:
    publisher, checkpoints = FlakyPublisher(), Checkpoints()
    outbox = Outbox(
        repository=checkpoints,  # type: ignore[arg-type]
        publisher=publisher,  # type: ignore[arg-type]
        settings=IngestSettings(),
    )
    return outbox, publisher, checkpoints


async def test_a_failed_publish_holds_the_checkpoint_until_a_retry_succeeds() -> None:
    outbox, publisher, checkpoints = new_outbox()
    old = utc_now() - timedelta(seconds=30)
    outbox.track(record("a", old))
    assert await outbox.publish(record("a", old)) is False
    assert outbox.is_failed("a")

    await outbox.sweep()
    assert checkpoints.saved[outbox.replica_id] == old, "nothing after `a` counts as safe"

    publisher.up = True
    await outbox.sweep()
    assert publisher.sent == ["a"]
    assert not outbox.is_failed("a")
    assert outbox.backlog == 0
    assert checkpoints.saved[outbox.replica_id] > old


async def test_safe_before_is_the_oldest_document_still_in_flight() -> None:
    outbox, publisher, _ = new_outbox()
    publisher.up = True
    first, second = utc_now() - timedelta(seconds=2), utc_now() - timedelta(seconds=1)
    outbox.track(record("first", first))
    outbox.track(record("second", second))
    assert outbox.safe_before() == first
    await outbox.publish(record("first", first))
    assert outbox.safe_before() == second
    outbox.forget("second")  # a duplicate: never stored, nothing to publish
    assert outbox.backlog == 0

"""Per-tenant bounds that need no server: upload slots and the quota's day arithmetic."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from docflow.ingest.documents.quota import TenantQuota, seconds_until_midnight
from docflow.ingest.errors import TooManyUploads
from docflow.ingest.uploads.slots import UploadSlots

pytestmark = pytest.mark.unit


def test_a_tenant_gets_its_slots_and_no_more_and_others_are_unaffected() -> None:
    slots = UploadSlots(per_tenant=2)
    with slots.hold("a"), slots.hold("a"):
        with pytest.raises(TooManyUploads) as refused, slots.hold("a"):
            pass  # pragma: no cover - never entered
        with slots.hold("b"):
            assert (slots.in_progress("a"), slots.in_progress("b")) == (2, 1)
    assert refused.value.status_code == 429
    assert refused.value.code == "too_many_uploads"
    assert refused.value.headers["Retry-After"] == "1"
    assert len(slots) == 0, "a tenant's entry goes with its last upload"


def test_a_failed_upload_gives_its_slot_back() -> None:
    slots = UploadSlots(per_tenant=1)
    with pytest.raises(RuntimeError), slots.hold("a"):
        raise RuntimeError("the parse failed")
    with slots.hold("a"):
        assert slots.in_progress("a") == 1


def test_zero_means_unlimited() -> None:
    slots = UploadSlots(per_tenant=0)
    with slots.hold("a"), slots.hold("a"), slots.hold("a"):
        assert slots.in_progress("a") == 0


@pytest.mark.parametrize(
    ("now", "seconds"),
    [
        (datetime(2026, 3, 1, 23, 59, 30, tzinfo=UTC), 30),
        (datetime(2026, 3, 1, 0, 0, 0, tzinfo=UTC), 86_400),
        (datetime(2026, 12, 31, 12, 0, 0, 500_000, tzinfo=UTC), 43_200),
    ],
)
def test_retry_after_runs_to_the_next_utc_midnight(now: datetime, seconds: int) -> None:
    assert seconds_until_midnight(now) == seconds


def test_the_counter_names_the_tenant_and_the_utc_day() -> None:
    quota = TenantQuota(None, prefix="p", per_day=5)  # type: ignore[arg-type]  # no I/O here
    day = datetime(2026, 3, 1, 23, 59, tzinfo=UTC)
    assert quota.counter("acme", day) == "p:ingest:quota:acme:20260301"
    assert not TenantQuota(None, prefix="p", per_day=0).enabled  # type: ignore[arg-type]

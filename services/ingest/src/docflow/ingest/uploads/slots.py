"""`UPLOADS_PER_TENANT`: uploads of one tenant in progress at once in this process.

An upload holds memory (the spooled file), a parse worker and seconds of CPU. Over the bound
the answer is 429 `too_many_uploads` at once: a queue would let one tenant pin workers and
memory just by sending slowly. Since nothing waits, a count per tenant does what a semaphore
would; a tenant's entry goes when its last upload ends, so the map holds only tenants with
uploads in flight (bounded by the requests in flight).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from docflow.ingest.errors import TooManyUploads

_RETRY_AFTER_S = "1"  # uploads take seconds; a slot is likely free by then


class UploadSlots:
    def __init__(self, per_tenant: int) -> None:
        self.per_tenant = per_tenant
        self._in_progress: dict[str, int] = {}

    def __len__(self) -> int:
        """Tenants with uploads in progress."""
        return len(self._in_progress)

    def in_progress(self, tenant_id: str) -> int:
        return self._in_progress.get(tenant_id, 0)

    @contextmanager
    def hold(self, tenant_id: str) -> Iterator[None]:
        """A slot of `tenant_id` for the duration; raises TooManyUploads when none is free."""
        if self.per_tenant == 0:
            yield
            return
        held = self.in_progress(tenant_id)
        if held >= self.per_tenant:
            raise TooManyUploads(
                f"The tenant has {held} uploads in progress, the most allowed; "
                "retry when one ends.",
                details={"uploads_per_tenant": self.per_tenant},
                headers={"Retry-After": _RETRY_AFTER_S},
            )
        self._in_progress[tenant_id] = held + 1
        try:
            yield
        finally:
            remaining = self._in_progress[tenant_id] - 1
            if remaining:
                self._in_progress[tenant_id] = remaining
            else:
                del self._in_progress[tenant_id]

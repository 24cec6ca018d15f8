"""`TENANT_DOCUMENTS_PER_DAY`: new documents a tenant may store through the REST API per UTC day.

One Redis counter per tenant and UTC day, shared by every replica: a slot is reserved with an
atomic INCR (with its expiry, in one MULTI) before the insert and given back when the document
turns out to be a duplicate or is not stored, so only new documents count. Past the quota the
answer is 429 `tenant_quota_exceeded` with `Retry-After` until midnight UTC.

If Redis is unreachable the quota fails open (the document is stored, a warning is logged),
as Idempotency-Key does: a cache outage must not stop ingestion. Documents from
`documents.incoming` are not counted: upstream producers are trusted, and a refused message
could only be dead-lettered.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from redis.asyncio import Redis
from redis.exceptions import RedisError

from docflow.ingest.errors import TenantQuotaExceeded

logger = logging.getLogger(__name__)

# A day's counter outlives its day a little, so a late refund finds it; then Redis drops it.
_COUNTER_TTL_S = 2 * 24 * 3600

Clock = Callable[[], datetime]


def _utc_now() -> datetime:
    return datetime.now(UTC)


def seconds_until_midnight(now: datetime) -> int:
    """Whole seconds until the next UTC midnight, at least 1."""
    midnight = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return max(1, math.ceil((midnight - now).total_seconds()))


@dataclass(frozen=True, slots=True)
class Reservation:
    """One counted document; `counter` is None when Redis could not count it."""

    counter: str | None


class TenantQuota:
    def __init__(self, redis: Redis, *, prefix: str, per_day: int, clock: Clock = _utc_now) -> None:
        self.redis = redis
        self.prefix = prefix
        self.per_day = per_day
        self._clock = clock

    @property
    def enabled(self) -> bool:
        return self.per_day > 0

    def counter(self, tenant_id: str, now: datetime) -> str:
        return f"{self.prefix}:ingest:quota:{tenant_id}:{now:%Y%m%d}"

    async def reserve(self, tenant_id: str) -> Reservation:
        """Count one new document of `tenant_id`; raises TenantQuotaExceeded past the quota."""
        if not self.enabled:
            return Reservation(counter=None)
        now = self._clock()
        counter = self.counter(tenant_id, now)
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.incr(counter)
                pipe.expire(counter, _COUNTER_TTL_S)
                count, _ = await pipe.execute()
            if count <= self.per_day:
                return Reservation(counter=counter)
            await self.redis.decr(counter)  # the counter keeps meaning "documents stored"
        except RedisError as exc:
            logger.warning("tenant quota unavailable", extra={"error": type(exc).__name__})
            return Reservation(counter=None)
        retry_after = seconds_until_midnight(now)
        raise TenantQuotaExceeded(
            f"The tenant stored its {self.per_day} documents for today (UTC); "
            f"retry after {retry_after} s.",
            details={"per_day": self.per_day, "retry_after_s": retry_after},
            headers={"Retry-After": str(retry_after)},
        )

    async def release(self, reservation: Reservation) -> None:
        """Give the slot back: the document was a duplicate, or was not stored."""
        if reservation.counter is None:
            return
        try:
            await self.redis.decr(reservation.counter)
        except RedisError as exc:
            logger.warning("tenant quota not given back", extra={"error": type(exc).__name__})

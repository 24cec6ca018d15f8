"""Daily counters in Redis, shared by every replica, and the per-tenant token budget on them.

A counter's key holds the UTC date and expires after two days, so no cleanup job is needed.
The same mechanism counts each tenant's tokens (this module) and the day's spend of all tenants
(spend_cap.py). A tenant whose counter reached the budget gets its documents deferred, not
analyzed: one tenant's backfill cannot spend everybody's quota. If Redis is unreachable the
budget fails open (documents are analyzed, a warning is logged): a cache outage must not stop
all analysis.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from redis.asyncio import Redis
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

_TTL_S = 2 * 24 * 3600


def utc_day() -> str:
    return datetime.now(UTC).strftime("%Y%m%d")


class DailyCounter:
    """One number per UTC day and subject (`{prefix}:analysis:{name}[:{subject}]:{YYYYMMDD}`).

    Reads return None and adds are skipped, each with a warning, while Redis is unreachable;
    callers decide what that means."""

    def __init__(self, *, redis: Redis, prefix: str, name: str) -> None:
        self._redis = redis
        self._base = f"{prefix}:analysis:{name}"

    def key(self, subject: str | None = None) -> str:
        return f"{self._base}:{subject}:{utc_day()}" if subject else f"{self._base}:{utc_day()}"

    async def read(self, subject: str | None = None) -> float | None:
        try:
            value = await self._redis.get(self.key(subject))
        except RedisError as exc:
            logger.warning("daily counter unavailable", extra={"error": type(exc).__name__})
            return None
        return float(value) if value is not None else 0.0

    async def add(self, amount: int | float, subject: str | None = None) -> None:
        key = self.key(subject)
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                if isinstance(amount, int):
                    pipe.incrby(key, amount)
                else:
                    pipe.incrbyfloat(key, amount)
                pipe.expire(key, _TTL_S)
                await pipe.execute()
        except RedisError as exc:
            logger.warning("daily counter not counted", extra={"error": type(exc).__name__})


class TenantBudget:
    def __init__(self, *, redis: Redis, prefix: str, daily_tokens: int) -> None:
        self._tokens = DailyCounter(redis=redis, prefix=prefix, name="tokens")
        self.daily_tokens = daily_tokens

    @property
    def enabled(self) -> bool:
        return self.daily_tokens > 0

    def key(self, tenant_id: str) -> str:
        return self._tokens.key(tenant_id)

    async def spent(self, tenant_id: str) -> bool:
        if not self.enabled:
            return False
        used = await self._tokens.read(tenant_id)
        return used is not None and used >= self.daily_tokens

    async def add(self, tenant_id: str, tokens: int) -> None:
        if tokens <= 0 or not self.enabled:
            return
        await self._tokens.add(tokens, tenant_id)

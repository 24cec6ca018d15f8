"""Per-tenant daily token budgets, counted in Redis so every replica shares them.

The counter's key holds the UTC date; it expires after two days, so no cleanup job is needed.
A tenant whose counter reached the budget gets its documents deferred, not analyzed: one
tenant's backfill cannot spend everybody's quota. If Redis is unreachable the budget fails open
(documents are analyzed, a warning is logged): a cache outage must not stop all analysis.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from redis.asyncio import Redis
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

_TTL_S = 2 * 24 * 3600


class TenantBudget:
    def __init__(self, *, redis: Redis, prefix: str, daily_tokens: int) -> None:
        self._redis = redis
        self._prefix = prefix
        self.daily_tokens = daily_tokens

    @property
    def enabled(self) -> bool:
        return self.daily_tokens > 0

    def key(self, tenant_id: str) -> str:
        day = datetime.now(UTC).strftime("%Y%m%d")
        return f"{self._prefix}:analysis:tokens:{tenant_id}:{day}"

    async def spent(self, tenant_id: str) -> bool:
        if not self.enabled:
            return False
        try:
            used = await self._redis.get(self.key(tenant_id))
        except RedisError as exc:
            logger.warning("tenant budget unavailable", extra={"error": type(exc).__name__})
            return False
        return used is not None and int(used) >= self.daily_tokens

    async def add(self, tenant_id: str, tokens: int) -> None:
        if tokens <= 0 or not self.enabled:
            return
        key = self.key(tenant_id)
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.incrby(key, tokens)
                pipe.expire(key, _TTL_S)
                await pipe.execute()
        except RedisError as exc:
            logger.warning("tenant budget not counted", extra={"error": type(exc).__name__})

"""The Redis cache of rendered responses, its keys, and how it behaves when Redis is gone.

What is stored under a key is an `entries.Entry`. Any Redis error opens a short circuit: for
`retry_interval_s` the cache is bypassed (reads go to MongoDB), then the next request tries
Redis again, so caching resumes by itself when Redis is back.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Awaitable, Callable

from prometheus_client import Counter
from redis.asyncio import Redis
from redis.exceptions import RedisError

from docflow.query.cache.entries import Entry, unpack

logger = logging.getLogger(__name__)

CACHE_EVENTS = Counter(
    "docflow_query_cache_total",
    "Cache lookups and failures by outcome (hit, stale, miss, bypass, error). Hit ratio: "
    "(hit + stale) / (hit + stale + miss); bypass and error are counted within miss too.",
    ["outcome"],
)
HIT = CACHE_EVENTS.labels("hit")
STALE = CACHE_EVENTS.labels("stale")
MISS = CACHE_EVENTS.labels("miss")
BYPASS = CACHE_EVENTS.labels("bypass")
ERROR = CACHE_EVENTS.labels("error")

# A connection refused raises OSError subclasses through redis-py on some paths.
REDIS_ERRORS = (RedisError, OSError, asyncio.TimeoutError)

# Fill only while our lock is still held: an invalidation deletes the lock, so a value read
# from MongoDB before the invalidation can never overwrite the fresh state after it.
_FILL_IF_LEASED = """
if redis.call('GET', KEYS[2]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  redis.call('DEL', KEYS[2])
  return 1
end
return 0
"""
_RELEASE_IF_OWNED = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class CacheKeys:
    """Every key the query service writes, under the deployment's prefix and the tenant.

    Everything cached is one tenant's view (a document, a page, counts), so the tenant is part
    of every key: a document cached for one tenant is a miss for every other. Tenant names
    hold no `:` (`TENANT_NAME`, ingest's tenant rule), so no two tenants' keys can collide.
    """

    def __init__(self, prefix: str) -> None:
        self.root = f"{prefix}:query"

    def generation(self, tenant: str) -> str:
        return f"{self.root}:{tenant}:generation"

    def document(self, tenant: str, document_id: str, *, with_content: bool) -> str:
        return f"{self.root}:{tenant}:doc:{document_id}:{'full' if with_content else 'brief'}"

    def document_variants(self, tenant: str, document_id: str) -> list[str]:
        return [self.document(tenant, document_id, with_content=flag) for flag in (True, False)]

    def listing(self, tenant: str, generation: int, digest: str) -> str:
        return f"{self.root}:{tenant}:list:{generation}:{digest}"

    def stats(self, tenant: str, generation: int) -> str:
        return f"{self.root}:{tenant}:stats:{generation}"

    @staticmethod
    def lock(key: str) -> str:
        return f"{key}:lock"


class Cache:
    """Cache operations that never raise on the read path: a Redis failure is a miss."""

    def __init__(
        self,
        redis: Redis,
        *,
        keys: CacheKeys,
        retry_interval_s: float,
        fast_get: Callable[[str], Awaitable[bytes | None]] | None = None,
    ) -> None:
        self.redis = redis
        # The hit path's GET (pipelined_get.PipelinedGet); redis-py's otherwise.
        self._get = fast_get or redis.get
        self.keys = keys
        self.retry_interval_s = retry_interval_s
        self._down_until = 0.0
        self._fill = redis.register_script(_FILL_IF_LEASED)
        self._release = redis.register_script(_RELEASE_IF_OWNED)

    @property
    def available(self) -> bool:
        return time.monotonic() >= self._down_until

    def _failed(self, exc: BaseException) -> None:
        ERROR.inc()
        if self.available:
            logger.warning(
                "cache unavailable, reading from MongoDB", extra={"error": type(exc).__name__}
            )
        self._down_until = time.monotonic() + self.retry_interval_s

    def _recovered(self) -> None:
        if self._down_until:
            self._down_until = 0.0
            logger.info("cache available again")

    async def get(self, key: str) -> Entry | None:
        if not self.available:
            BYPASS.inc()
            return None
        try:
            raw = await self._get(key)
        except REDIS_ERRORS as exc:
            self._failed(exc)
            return None
        if self._down_until:
            self._recovered()
        return unpack(raw) if isinstance(raw, bytes) else None

    async def generation(self, tenant: str) -> int | None:
        """The tenant's current list/stats generation; None when the cache cannot be used."""
        if not self.available:
            return None
        try:
            raw = await self.redis.get(self.keys.generation(tenant))
        except REDIS_ERRORS as exc:
            self._failed(exc)
            return None
        return int(raw) if raw is not None else 0

    async def acquire(self, key: str, *, timeout_s: float) -> str | None:
        """Take the recompute lock of `key`; its token, or None if another request holds it."""
        if not self.available:
            return None
        token = secrets.token_hex(8)
        try:
            taken = await self.redis.set(
                self.keys.lock(key), token, nx=True, px=max(1, int(timeout_s * 1000))
            )
        except REDIS_ERRORS as exc:
            self._failed(exc)
            return None
        return token if taken else None

    async def fill(self, key: str, entry: Entry, *, token: str, keep_for_s: float) -> bool:
        """Store `entry` if our lock on `key` still stands (see `_FILL_IF_LEASED`)."""
        if not self.available:
            return False
        ttl_ms = max(1, int(keep_for_s * 1000))
        try:
            stored = await self._fill(
                keys=[key, self.keys.lock(key)], args=[token, entry.pack(), ttl_ms]
            )
        except REDIS_ERRORS as exc:
            self._failed(exc)
            return False
        return bool(stored)

    async def release(self, key: str, *, token: str) -> None:
        if not self.available:
            return
        try:
            await self._release(keys=[self.keys.lock(key)], args=[token])
        except REDIS_ERRORS as exc:
            self._failed(exc)

    async def invalidate_document(self, *, tenant: str, document_id: str) -> None:
        """Forget one document and every list and stats entry of its tenant: raises if Redis
        fails.

        Deleting the locks too rejects any fill in flight that read the old state. A tenant's
        lists and stats are keyed by its generation, so bumping it retires all of them in
        O(1); the old entries expire by their TTL. Other tenants' entries stay.
        """
        variants = self.keys.document_variants(tenant, document_id)
        locks = [self.keys.lock(key) for key in variants]
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.delete(*variants, *locks)
            pipe.incr(self.keys.generation(tenant))
            await pipe.execute()
        self._recovered()

    async def ping(self) -> None:
        """The readiness check: raises while Redis does not answer."""
        await self.redis.ping()

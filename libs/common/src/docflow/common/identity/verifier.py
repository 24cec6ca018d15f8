"""API key verification on the request path: a process-local cache in front of one lookup.

A hit costs a SHA-256 of the key and a dict lookup (microseconds; see tests/perf and the
README). A miss reads the key's record by `_id`; concurrent misses for the same key share that
one read. Verified keys are cached for `AUTH_CACHE_TTL_S`, so a revocation takes effect within
it; rejected keys for `AUTH_NEGATIVE_TTL_S`, in a bounded map, so garbage cannot fill memory.

While the store is unreachable, a key verified in the last `STALE_IF_ERROR_S` keeps working:
the services are built to keep serving through a MongoDB outage (cached reads, queued writes),
and authentication must not be the dependency that takes them down. Keys never seen fail with
503, not 401: the caller did nothing wrong.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from pymongo.errors import PyMongoError

from docflow.common.identity.cache import BoundedTTLCache
from docflow.common.identity.keys import Identity, hash_key, hash_matches, key_id_of
from docflow.common.identity.repository import StoredKey

STALE_IF_ERROR_S = 300.0

FindKey = Callable[[str], Awaitable[StoredKey | None]]
Clock = Callable[[], float]


class IdentityStoreUnavailable(Exception):
    """The key store cannot be read and the key is not known from before."""


class ApiKeyVerifier:
    def __init__(
        self,
        find_key: FindKey,
        *,
        ttl_s: float,
        negative_ttl_s: float,
        max_size: int,
        clock: Clock = time.monotonic,
    ) -> None:
        self._find_key = find_key
        self._clock = clock
        self.verified: BoundedTTLCache[Identity] = BoundedTTLCache(max_size=max_size, ttl_s=ttl_s)
        self.rejected: BoundedTTLCache[None] = BoundedTTLCache(
            max_size=max_size, ttl_s=negative_ttl_s
        )
        self._pending: dict[str, asyncio.Task[Identity | None]] = {}
        self.lookups = 0  # store reads made, for tests and benchmarks

    async def verify(self, token: str) -> Identity | None:
        """The key's identity, or None when it is malformed, unknown, revoked or wrong."""
        key_id = key_id_of(token)
        if key_id is None:
            return None  # not even shaped like a key: no hash, no lookup, nothing cached
        digest = hash_key(token)
        now = self._clock()
        hit = self.verified.fresh(digest, now)
        if hit is not None:
            return hit.value
        if self.rejected.fresh(digest, now) is not None:
            return None
        pending = self._pending.get(digest)
        if pending is None:
            pending = self._pending[digest] = asyncio.ensure_future(self._look_up(digest, key_id))
            pending.add_done_callback(lambda _: self._pending.pop(digest, None))
        # Shielded: a caller that goes away must not cancel the lookup others wait for.
        return await asyncio.shield(pending)

    async def _look_up(self, digest: str, key_id: str) -> Identity | None:
        self.lookups += 1
        try:
            stored = await self._find_key(key_id)
        except PyMongoError as exc:
            known = self.verified.entry(digest)
            if known is not None and self._clock() - known.expires_at < STALE_IF_ERROR_S:
                return known.value
            raise IdentityStoreUnavailable(type(exc).__name__) from exc
        now = self._clock()
        if stored is None or stored.revoked or not hash_matches(digest, stored.key_hash):
            self.verified.discard(digest)
            self.rejected.put(digest, None, now)
            return None
        identity = Identity(tenant=stored.tenant, key_id=stored.key_id)
        self.verified.put(digest, identity, now)
        return identity

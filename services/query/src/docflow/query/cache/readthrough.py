"""Cache-aside with stampede protection, shared by documents, lists and stats.

A fresh entry is served as is. When it goes stale (its TTL passed, its grace not yet), one
request takes the key's lock and recomputes it while the others keep serving the stale entry.
When the key is missing altogether, one request recomputes it and the others wait briefly for
its result, then read MongoDB themselves rather than queue behind a slow database.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from docflow.query.cache.entries import Entry, new_entry
from docflow.query.cache.store import HIT, MISS, STALE, Cache
from docflow.query.errors import DatabaseUnavailable
from docflow.query.settings import QuerySettings

# Returns the serialized data, or None when the thing does not exist.
Loader = Callable[[], Awaitable[bytes | None]]

_WAIT_STEP_S = 0.01


@dataclass(frozen=True, slots=True)
class Lifetime:
    fresh_s: float  # served as is for this long; 0 turns caching off
    not_found_s: float  # a not-found answer is kept this long (no grace); 0 does not keep it
    grace_s: float  # then served stale this much longer while one request recomputes it


@dataclass(frozen=True, slots=True)
class Stampede:
    lock_timeout_s: float
    wait_s: float


@dataclass(frozen=True, slots=True)
class CachePolicy:
    document: Lifetime
    listing: Lifetime
    stats: Lifetime
    stampede: Stampede

    @classmethod
    def from_settings(cls, settings: QuerySettings) -> CachePolicy:
        grace, not_found = settings.cache_stale_grace_s, settings.cache_not_found_ttl_s
        return cls(
            document=Lifetime(settings.cache_document_ttl_s, not_found, grace),
            listing=Lifetime(settings.cache_list_ttl_s, 0.0, grace),
            stats=Lifetime(settings.cache_stats_ttl_s, 0.0, grace),
            stampede=Stampede(settings.cache_lock_timeout_s, settings.cache_lock_wait_s),
        )


async def read_through(
    cache: Cache, *, key: str, lifetime: Lifetime, stampede: Stampede, load: Loader
) -> Entry:
    if lifetime.fresh_s <= 0:
        return await _compute(load, lifetime)
    entry = await cache.get(key)
    if entry is not None:
        if entry.is_fresh(time.time()):
            HIT.inc()
            return entry
        return await _refresh(
            cache, key=key, stale=entry, lifetime=lifetime, stampede=stampede, load=load
        )
    MISS.inc()
    if not cache.available:
        return await _compute(load, lifetime)
    return await _recompute_missing(cache, key=key, lifetime=lifetime, stampede=stampede, load=load)


async def uncached(load: Loader) -> Entry:
    """The answer straight from MongoDB, for when the cache cannot be used."""
    return new_entry(await load(), fresh_for_s=0.0)


async def _compute(load: Loader, lifetime: Lifetime) -> Entry:
    data = await load()
    return new_entry(
        data, fresh_for_s=lifetime.fresh_s if data is not None else lifetime.not_found_s
    )


async def _refresh(
    cache: Cache,
    *,
    key: str,
    stale: Entry,
    lifetime: Lifetime,
    stampede: Stampede,
    load: Loader,
) -> Entry:
    token = await cache.acquire(key, timeout_s=stampede.lock_timeout_s)
    if token is None:
        STALE.inc()  # another request is recomputing it
        return stale
    try:
        fresh = await _compute(load, lifetime)
    except DatabaseUnavailable:
        # Better an answer a little past its TTL than a 503.
        await cache.release(key, token=token)
        STALE.inc()
        return stale
    except BaseException:
        await cache.release(key, token=token)
        raise
    MISS.inc()  # expired, so read again from MongoDB: a miss, for the hit ratio
    await _store(cache, key=key, entry=fresh, token=token, lifetime=lifetime)
    return fresh


async def _recompute_missing(
    cache: Cache, *, key: str, lifetime: Lifetime, stampede: Stampede, load: Loader
) -> Entry:
    token = await cache.acquire(key, timeout_s=stampede.lock_timeout_s)
    if token is None:
        filled = await _wait_for(cache, key=key, wait_s=stampede.wait_s)
        # Whoever holds the lock fills the key; without the lock we only answer.
        return filled if filled is not None else await _compute(load, lifetime)
    # Another request may have filled it and let go of the lock since our miss.
    filled = await cache.get(key)
    if filled is not None and filled.is_fresh(time.time()):
        await cache.release(key, token=token)
        return filled
    try:
        fresh = await _compute(load, lifetime)
    except BaseException:
        await cache.release(key, token=token)
        raise
    await _store(cache, key=key, entry=fresh, token=token, lifetime=lifetime)
    return fresh


async def _store(cache: Cache, *, key: str, entry: Entry, token: str, lifetime: Lifetime) -> None:
    keep_for_s = lifetime.fresh_s + lifetime.grace_s if entry.found else lifetime.not_found_s
    if keep_for_s <= 0:
        await cache.release(key, token=token)
        return
    await cache.fill(key, entry, token=token, keep_for_s=keep_for_s)


async def _wait_for(cache: Cache, *, key: str, wait_s: float) -> Entry | None:
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline and cache.available:
        await asyncio.sleep(_WAIT_STEP_S)
        entry = await cache.get(key)
        if entry is not None:
            return entry
    return None

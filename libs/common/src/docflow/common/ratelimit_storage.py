"""A limits storage that counts in process and shares the counts through Redis in the background.

limits' synchronous Redis storage blocked the event loop for a Redis round trip on every request
(measured: about 300 us of a cached read's 700 us). This storage answers `incr` from memory and
flushes the increments to Redis every `flush_interval_s` with one pipelined round trip on the
event loop, reading back every replica's total for the window.

What it costs in accuracy: a process does not see the other replicas' last `flush_interval_s` of
hits, so a client can exceed its budget by at most that much traffic per replica. What it gains
besides speed: it never raises, so a Redis outage leaves each process limiting on its own counts
(a fallback without an error path), and the counts are shared again once Redis is back.

Registered with limits as the `docflow+redis://` and `docflow+rediss://` schemes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

from limits.storage import Storage
from redis.asyncio import Redis
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

SCHEME_PREFIX = "docflow+"
FLUSH_INTERVAL_S = 0.05
_RETRY_AFTER_FAILURE_S = 1.0

# Add our hits, start the window's expiry if this made the key, return the total and its TTL.
_ADD_AND_READ = """
local count = redis.call('INCRBY', KEYS[1], ARGV[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  ttl = tonumber(ARGV[2])
end
return {count, ttl}
"""


@dataclass(slots=True)
class _Window:
    shared: int  # the Redis total at the last flush: every replica's hits, ours included
    pending: int  # our hits since then
    expires_at: float  # when the window resets (Redis's TTL once known)
    expiry_s: int


class BufferedRedisStorage(Storage):
    STORAGE_SCHEME = ["docflow+redis", "docflow+rediss"]

    def __init__(
        self,
        uri: str | None = None,
        wrap_exceptions: bool = False,
        flush_interval_s: float = FLUSH_INTERVAL_S,
        **options: Any,
    ) -> None:
        super().__init__(uri, wrap_exceptions)
        self.redis_url = (uri or "redis://127.0.0.1:6379/0").removeprefix(SCHEME_PREFIX)
        self.redis_options = options
        self.flush_interval_s = flush_interval_s
        self._windows: dict[str, _Window] = {}
        self._redis: Redis | None = None
        self._redis_loop: asyncio.AbstractEventLoop | None = None
        self._flush_pending = False
        self._failing = False
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def base_exceptions(self) -> tuple[type[Exception], ...]:
        return (RedisError, OSError)

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        now = time.time()
        window = self._windows.get(key)
        if window is None or now >= window.expires_at:
            window = self._windows[key] = _Window(0, 0, now + expiry, expiry)
        window.pending += amount
        self._schedule_flush()
        return window.shared + window.pending

    def get(self, key: str) -> int:
        window = self._windows.get(key)
        if window is None or time.time() >= window.expires_at:
            return 0
        return window.shared + window.pending

    def get_expiry(self, key: str) -> float:
        window = self._windows.get(key)
        return window.expires_at if window is not None else time.time()

    def check(self) -> bool:
        return True  # counting never depends on Redis being there

    def reset(self) -> int | None:
        count = len(self._windows)
        self._windows.clear()
        return count

    def clear(self, key: str) -> None:
        self._windows.pop(key, None)

    def _schedule_flush(self) -> None:
        if self._flush_pending:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # called outside an event loop: count locally only
        self._flush_pending = True
        delay = _RETRY_AFTER_FAILURE_S if self._failing else self.flush_interval_s
        loop.call_later(delay, self._start_flush, loop)

    def _start_flush(self, loop: asyncio.AbstractEventLoop) -> None:
        if loop.is_closed():
            return
        task = loop.create_task(self._flush())
        self._tasks.add(task)  # keep a reference until it is done
        task.add_done_callback(self._tasks.discard)

    def _client(self) -> Redis:
        loop = asyncio.get_running_loop()
        if self._redis is None or self._redis_loop is not loop:
            self._redis = Redis.from_url(self.redis_url, **self.redis_options)
            self._redis_loop = loop
        return self._redis

    async def _flush(self) -> None:
        now = time.time()
        for key in [k for k, w in self._windows.items() if w.expires_at <= now and not w.pending]:
            del self._windows[key]  # finished windows of clients that went quiet
        batch = [(key, window, window.pending) for key, window in self._windows.items()]
        batch = [item for item in batch if item[2]]
        try:
            if batch:
                await self._send(batch)
            if self._failing:
                logger.info("rate-limit counts are shared through Redis again")
            self._failing = False
        except (TimeoutError, RedisError, OSError) as exc:
            if not self._failing:
                logger.warning(
                    "rate-limit counts stay per process while Redis is unreachable",
                    extra={"error": type(exc).__name__},
                )
            self._failing = True
        finally:
            self._flush_pending = False
            if any(window.pending for window in self._windows.values()):
                self._schedule_flush()

    async def _send(self, batch: list[tuple[str, _Window, int]]) -> None:
        redis = self._client()
        async with redis.pipeline(transaction=False) as pipe:
            for key, window, sent in batch:
                # EVAL, not EVALSHA: a restarted Redis has lost its script cache.
                pipe.eval(_ADD_AND_READ, 1, key, sent, window.expiry_s * 1000)
            results = await pipe.execute()
        now = time.time()
        for (_key, window, sent), (count, ttl_ms) in zip(batch, results, strict=True):
            window.pending -= sent
            window.shared = int(count)
            window.expires_at = now + int(ttl_ms) / 1000

"""Client-side requests-per-minute and tokens-per-minute limiter.

Both buckets start from settings and refill evenly over a minute, like the provider's. Every
response corrects them from `x-ratelimit-{limit,remaining}-{requests,tokens}`: the server's
limit replaces ours and its `remaining` caps our level (it also counts other clients of the same
key). A `rate_limit_exceeded` 429 empties the bucket, blocks everyone until its retry-after
(with jitter) and lowers the pace for a while; successes restore it gradually.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Mapping

# The lowest pace a 429 storm can push us to, as a share of the advertised limit.
MIN_PACE = 0.25


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """What a 429 asks us to wait: `retry-after-ms` first, then `retry-after` (seconds)."""
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        raw = headers.get(name)
        if raw is None:
            continue
        try:
            return max(0.0, float(raw) * scale)
        except ValueError:
            continue
    return None


class Bucket:
    def __init__(self, per_minute: int, *, now: float) -> None:
        self.limit = float(per_minute)
        self.level = float(per_minute)
        self.updated = now

    def refill(self, now: float, pace: float) -> None:
        self.level = min(self.limit, self.level + (now - self.updated) * self.limit / 60 * pace)
        self.updated = now

    def wait_for(self, amount: float, pace: float) -> float:
        # A request bigger than the whole bucket waits for a full bucket, not forever.
        needed = min(amount, self.limit) - self.level
        return 0.0 if needed <= 0 else needed / (self.limit / 60 * pace)


class RateLimiter:
    def __init__(self, *, rpm: int, tpm: int) -> None:
        now = time.monotonic()
        self.requests = Bucket(rpm, now=now)
        self.tokens = Bucket(tpm, now=now)
        self.pace = 1.0
        self.blocked_until = 0.0
        self._lock = asyncio.Lock()

    async def acquire(self, tokens: int) -> None:
        """Wait until one request and `tokens` tokens fit, then take them (FIFO via the lock)."""
        async with self._lock:
            while True:
                now = time.monotonic()
                self.requests.refill(now, self.pace)
                self.tokens.refill(now, self.pace)
                wait = max(
                    self.blocked_until - now,
                    self.requests.wait_for(1, self.pace),
                    self.tokens.wait_for(tokens, self.pace),
                )
                if wait <= 0:
                    self.requests.level -= 1
                    self.tokens.level -= min(tokens, self.tokens.limit)
                    return
                await asyncio.sleep(wait)

    def observe_headers(self, headers: Mapping[str, str]) -> None:
        now = time.monotonic()
        for kind, bucket in (("requests", self.requests), ("tokens", self.tokens)):
            # Bring our level to now first: the server's `remaining` already includes its
            # refill up to now, which must not be added a second time at the next acquire.
            bucket.refill(now, self.pace)
            limit = _int(headers.get(f"x-ratelimit-limit-{kind}"))
            if limit is not None and limit > 0 and limit != bucket.limit:
                bucket.limit = float(limit)
                bucket.level = min(bucket.level, bucket.limit)
            remaining = _int(headers.get(f"x-ratelimit-remaining-{kind}"))
            if remaining is not None:
                bucket.level = min(bucket.level, float(remaining))
        # Successes restore the pace a 429 lowered, a little at a time.
        self.pace = min(1.0, self.pace * 1.02)

    def rate_limited(self, retry_after_s: float | None) -> float:
        """Record a `rate_limit_exceeded` 429; returns the pause every caller now observes."""
        base = retry_after_s if retry_after_s is not None else 1.0
        pause = base * (1 + random.uniform(0.05, 0.25))  # jitter: callers must not return in step
        now = time.monotonic()
        self.requests.refill(now, self.pace)
        if now >= self.blocked_until:
            # Concurrent requests rejected in the same window count as one signal, not many.
            self.pace = max(MIN_PACE, self.pace * 0.8)
        self.blocked_until = max(self.blocked_until, now + pause)
        self.requests.level = min(self.requests.level, 0.0)
        return pause


def _int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(float(value))
    except ValueError:
        return None

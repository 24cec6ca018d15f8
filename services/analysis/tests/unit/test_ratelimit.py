"""The client-side limiter and the rate-limit header formats."""

from __future__ import annotations

import time

import pytest

from docflow.analysis.providers.openai.ratelimit import RateLimiter, retry_after_seconds
from docflow.analysis.providers.retry import RetryPolicy

pytestmark = pytest.mark.unit


def test_retry_after_ms_wins_over_retry_after() -> None:
    assert retry_after_seconds({"retry-after-ms": "250", "retry-after": "1"}) == 0.25
    assert retry_after_seconds({"retry-after": "2"}) == 2.0
    assert retry_after_seconds({}) is None


async def test_requests_within_the_bucket_do_not_wait() -> None:
    limiter = RateLimiter(rpm=60, tpm=10_000)
    started = time.monotonic()
    for _ in range(5):
        await limiter.acquire(100)
    assert time.monotonic() - started < 0.1


async def test_an_empty_token_bucket_makes_callers_wait_for_the_refill() -> None:
    limiter = RateLimiter(rpm=6000, tpm=6000)  # 100 tokens per second
    await limiter.acquire(6000)
    started = time.monotonic()
    await limiter.acquire(20)
    assert time.monotonic() - started == pytest.approx(0.2, abs=0.1)


def test_headers_lower_the_limit_and_the_level() -> None:
    limiter = RateLimiter(rpm=600, tpm=1_000_000)
    limiter.observe_headers(
        {
            "x-ratelimit-limit-requests": "30",
            "x-ratelimit-remaining-requests": "3",
            "x-ratelimit-limit-tokens": "50000",
            "x-ratelimit-remaining-tokens": "40000",
        }
    )
    assert limiter.requests.limit == 30
    assert limiter.requests.level == 3
    assert limiter.tokens.limit == 50_000
    assert limiter.tokens.level == 40_000


def test_a_429_blocks_for_retry_after_with_jitter_and_slows_the_pace() -> None:
    limiter = RateLimiter(rpm=600, tpm=1_000_000)
    pause = limiter.rate_limited(2.0)
    assert 2.0 < pause <= 2.5
    assert limiter.blocked_until > time.monotonic() + 1.9
    assert limiter.pace < 1.0
    for _ in range(200):
        limiter.observe_headers({})
    assert limiter.pace == 1.0


def test_backoff_grows_exponentially_within_bounds() -> None:
    policy = RetryPolicy(attempts=4, base_delay_s=1.0, max_delay_s=5.0)
    assert 0.5 <= policy.delay(1) <= 1.0
    assert 2.0 <= policy.delay(3) <= 4.0
    assert 2.5 <= policy.delay(10) <= 5.0
    assert not policy.exhausted(3)
    assert policy.exhausted(4)

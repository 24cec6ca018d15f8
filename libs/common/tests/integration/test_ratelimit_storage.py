"""The buffered rate-limit storage shares counts between processes through the real Redis."""

import asyncio
import uuid

import pytest
from redis.asyncio import Redis

from docflow.common.ratelimit_storage import BufferedRedisStorage
from docflow.testing import free_port

pytestmark = pytest.mark.integration

REDIS_URL = "redis://127.0.0.1:6379/0"


async def test_replicas_see_each_others_hits_after_a_flush() -> None:
    key = f"test:ratelimit:{uuid.uuid4().hex}"
    first = BufferedRedisStorage(f"docflow+{REDIS_URL}", flush_interval_s=0.01)
    second = BufferedRedisStorage(f"docflow+{REDIS_URL}", flush_interval_s=0.01)

    assert [first.incr(key, 60) for _ in range(3)] == [1, 2, 3]
    assert second.incr(key, 60) == 1  # it has not heard of the first one's hits yet
    await asyncio.sleep(0.2)

    # Each learns the shared total when it flushes its own next hit.
    first.incr(key, 60)
    await asyncio.sleep(0.2)
    assert first.get(key) == 5
    second.incr(key, 60)
    await asyncio.sleep(0.2)
    assert second.get(key) == 6
    redis = Redis.from_url(REDIS_URL)
    try:
        assert 0 < await redis.pttl(key) <= 60_000
    finally:
        await redis.delete(key)
        await redis.aclose()


async def test_unreachable_redis_leaves_counting_local_and_raises_nothing() -> None:
    storage = BufferedRedisStorage(
        f"docflow+redis://127.0.0.1:{free_port()}/0",
        flush_interval_s=0.01,
        socket_connect_timeout=0.2,
    )

    counts = [storage.incr("k", 60) for _ in range(3)]
    await asyncio.sleep(0.1)

    assert counts == [1, 2, 3]
    assert storage.incr("k", 60) == 4
    assert storage.check()


def test_a_new_window_starts_from_zero() -> None:
    storage = BufferedRedisStorage("docflow+redis://127.0.0.1:1/0")

    storage.incr("k", 0)  # a window of no length: already over

    assert storage.get("k") == 0
    assert storage.incr("k", 60) == 1

"""The daily spend cap's rules that need no Redis: off without a cap, this replica's own spend
while Redis is unreachable, reservations of an earlier day, the wait until the next UTC day."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from prometheus_client import REGISTRY
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from docflow.analysis.analyses.spend_cap import SpendCap, seconds_to_next_utc_day

pytestmark = pytest.mark.unit


@pytest.fixture
async def unreachable() -> AsyncIterator[Redis]:
    # Port 1 refuses connections at once: no Redis is needed to see the failure (and no retry
    # waits for it to come back).
    redis = Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0))
    yield redis
    await redis.aclose()


async def test_without_a_cap_nothing_is_counted_or_held(unreachable: Redis) -> None:
    cap = SpendCap(redis=unreachable, prefix="p", usd_per_day=None)
    await cap.add(1_000.0)
    assert await cap.reached() is False
    assert await cap.wait_below(0.0) is True


async def test_while_redis_is_out_this_replica_holds_its_own_spend_under_the_cap(
    unreachable: Redis,
) -> None:
    cap = SpendCap(redis=unreachable, prefix="p", usd_per_day=1.0)
    await cap.add(0.6)
    assert await cap.reached() is False

    await cap.add(0.5)

    assert await cap.reached() is True
    assert await cap.wait_below(0.01) is False
    assert REGISTRY.get_sample_value("docflow_analysis_spend_cap_reached") == 1
    assert REGISTRY.get_sample_value("docflow_analysis_spend_today_usd") == pytest.approx(1.1)


async def test_a_reservation_is_given_back_only_on_its_own_day(unreachable: Redis) -> None:
    cap = SpendCap(redis=unreachable, prefix="p", usd_per_day=1.0)
    await cap.add(1.0)
    await cap.release(1.0, day="19700101")
    assert await cap.reached() is True


def test_the_wait_ends_just_after_the_next_utc_midnight() -> None:
    assert 1.0 < seconds_to_next_utc_day() <= 24 * 3600 + 1.0

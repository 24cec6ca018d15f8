"""Tenant budgets fail open when Redis is unreachable."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from redis.asyncio import Redis

from docflow.analysis.analyses.budget import TenantBudget

pytestmark = pytest.mark.unit


def _unreachable() -> Redis:
    # Port 1 refuses connections at once: no Redis is needed to see the failure.
    return Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)


def test_key_holds_the_tenant_and_the_utc_day() -> None:
    budget = TenantBudget(redis=_unreachable(), prefix="p", daily_tokens=10)
    before = datetime.now(UTC)
    key = budget.key("acme")
    days = {f"{day:%Y%m%d}" for day in (before, datetime.now(UTC))}  # midnight may pass
    assert key in {f"p:analysis:tokens:acme:{day}" for day in days}


async def test_unreachable_redis_fails_open() -> None:
    redis = _unreachable()
    budget = TenantBudget(redis=redis, prefix="p", daily_tokens=10)

    assert await budget.spent("acme") is False
    await budget.add("acme", 100)  # logged, not raised
    await redis.aclose()


async def test_disabled_budget_never_touches_redis() -> None:
    budget = TenantBudget(redis=_unreachable(), prefix="p", daily_tokens=0)
    assert not budget.enabled
    assert await budget.spent("acme") is False

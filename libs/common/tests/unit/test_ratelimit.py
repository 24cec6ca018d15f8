"""Rate limits reach routes of included routers, and survive a Redis that is not there."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from pydantic import SecretStr

from docflow.common.app import create_service_app
from docflow.common.errors import RateLimited
from docflow.common.identity import Identity
from docflow.common.ratelimit import RateLimits, rate_limit_client
from docflow.common.settings import CommonSettings
from docflow.testing import bearer, free_port, static_authenticator

pytestmark = pytest.mark.unit

KEY = "dfk_0123456789abcdef_" + "k" * 43
OTHER_KEY = "dfk_fedcba9876543210_" + "o" * 43


@asynccontextmanager
async def _no_lifespan(app: FastAPI) -> AsyncIterator[None]:
    yield


def build_app(limit: str) -> FastAPI:
    # Nothing listens on this port: the limiter must fall back to memory, not fail requests.
    settings = CommonSettings(
        service_name="unit",
        rate_limit_default=limit,
        redis_url=SecretStr(f"redis://127.0.0.1:{free_port()}/0"),
        redis_timeout_s=0.2,
    )
    app = create_service_app(
        settings=settings,
        title="unit",
        description="unit",
        lifespan=_no_lifespan,
        health_checks=lambda _app: [],
        authenticator=static_authenticator(
            {
                KEY: Identity(tenant="t", key_id="0123456789abcdef"),
                # The same tenant: budgets follow the key, not the tenant.
                OTHER_KEY: Identity(tenant="t", key_id="fedcba9876543210"),
            }
        ),
    )
    router = APIRouter(prefix="/v1")

    @router.get("/things/{thing_id}")
    async def thing(thing_id: str) -> dict[str, str]:
        return {"id": thing_id}

    app.include_router(router)
    return app


async def test_budget_is_per_client_across_routes_and_health_is_never_limited() -> None:
    app = build_app("3/minute")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://test", headers=bearer(KEY)
    ) as client:
        statuses = [(await client.get(f"/v1/things/{n}")).status_code for n in range(4)]
        health = [(await client.get("/health")).status_code for _ in range(5)]
        refused = await client.get("/v1/things/other")

    assert statuses == [200, 200, 200, 429]
    assert health == [200] * 5
    assert refused.json()["error"]["code"] == "rate_limited"
    assert int(refused.headers["retry-after"]) >= 1
    assert refused.headers["x-request-id"]


def test_a_named_budget_counts_apart_per_client_and_says_when_to_retry() -> None:
    settings = CommonSettings(redis_url=SecretStr(f"redis://127.0.0.1:{free_port()}/0"))
    rate_limits = RateLimits(settings)

    for _ in range(2):
        rate_limits.hit("upload", "2/minute", "10.0.0.1")
    rate_limits.hit("upload", "2/minute", "10.0.0.2")  # another client, its own budget
    with pytest.raises(RateLimited) as refused:
        rate_limits.hit("upload", "2/minute", "10.0.0.1")

    assert 1 <= int(refused.value.headers["Retry-After"]) <= 60
    assert "2 per 1 minute" in refused.value.message


def test_disabled_limits_count_nothing() -> None:
    rate_limits = RateLimits(CommonSettings(rate_limit_enabled=False))

    for _ in range(5):
        rate_limits.hit("upload", "1/minute", "10.0.0.1")


async def statuses_of(app: FastAPI, *, key: str, address: str, count: int) -> list[int]:
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    async with httpx.AsyncClient(
        transport=transport, base_url="http://test", headers=bearer(key)
    ) as client:
        return [(await client.get(f"/v1/things/{n}")).status_code for n in range(count)]


async def test_two_keys_behind_one_address_have_a_budget_each() -> None:
    app = build_app("2/minute")

    first = await statuses_of(app, key=KEY, address="10.0.0.1", count=3)
    second = await statuses_of(app, key=OTHER_KEY, address="10.0.0.1", count=3)

    assert first == second == [200, 200, 429]


async def test_one_key_from_two_addresses_shares_one_budget() -> None:
    app = build_app("2/minute")

    here = await statuses_of(app, key=KEY, address="10.0.0.1", count=1)
    there = await statuses_of(app, key=KEY, address="10.0.0.2", count=2)

    assert here + there == [200, 200, 429]


def test_a_request_without_an_identity_counts_against_its_address() -> None:
    scope = {"type": "http", "client": ("10.0.0.9", 1234), "state": {}}
    keyed = {**scope, "state": {"identity": Identity(tenant="t", key_id="0123456789abcdef")}}

    assert rate_limit_client(scope) == "10.0.0.9"
    assert rate_limit_client(keyed) == "key:0123456789abcdef"

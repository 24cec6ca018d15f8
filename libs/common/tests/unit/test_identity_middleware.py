"""The authentication middleware as create_service_app installs it: who gets in, who gets 401."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import fastapi.dependencies.utils
import httpx
import pytest
from fastapi import APIRouter, FastAPI

from docflow.common.app import create_service_app
from docflow.common.identity import Identity, IdentityDep, TenantDep
from docflow.common.identity.authenticator import Authenticator
from docflow.common.identity.verifier import IdentityStoreUnavailable
from docflow.common.settings import CommonSettings

pytestmark = pytest.mark.unit

GOOD = "dfk_0123456789abcdef_" + "g" * 43
BROKEN_STORE = "dfk_fedcba9876543210_" + "b" * 43


class FakeKeys:
    """One good key, and one whose store is down."""

    async def verify(self, token: str) -> Identity | None:
        if token == BROKEN_STORE:
            raise IdentityStoreUnavailable("down")
        return Identity(tenant="acme", key_id="0123456789abcdef") if token == GOOD else None


@asynccontextmanager
async def _no_lifespan(app: FastAPI) -> AsyncIterator[None]:
    yield


def build_app(*, failures_per_minute: int = 30) -> FastAPI:
    settings = CommonSettings(
        service_name="unit",
        rate_limit_enabled=False,
        auth_failures_per_minute=failures_per_minute,
    )
    app = create_service_app(
        settings=settings,
        title="unit",
        description="unit",
        lifespan=_no_lifespan,
        health_checks=lambda _app: [],
        authenticator=Authenticator(FakeKeys()),
    )
    router = APIRouter(prefix="/v1")

    @router.get("/whoami")
    async def whoami(identity: IdentityDep, tenant: TenantDep) -> dict[str, str]:
        """Who the key says the caller is."""
        return {"tenant": tenant, "key_id": identity.key_id}

    app.include_router(router)

    @app.get("/outside")
    async def outside(identity: IdentityDep) -> dict[str, str]:
        return {"tenant": identity.tenant}

    return app


async def get(app: FastAPI, path: str, **headers: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://unit") as client:
        return await client.get(path, headers=headers)


async def test_a_valid_key_reaches_the_endpoint_with_its_identity() -> None:
    response = await get(build_app(), "/v1/whoami", authorization=f"Bearer {GOOD}")
    assert response.status_code == 200
    assert response.json() == {"tenant": "acme", "key_id": "0123456789abcdef"}


async def test_the_scheme_name_is_case_insensitive() -> None:
    response = await get(build_app(), "/v1/whoami", authorization=f"bearer {GOOD}")
    assert response.status_code == 200


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer ", f"Basic {GOOD}", "Bearer dfk_nope", f"Bearer {GOOD}x"],
)
async def test_anything_else_is_401_in_the_envelope_with_a_bearer_challenge(
    authorization: str | None,
) -> None:
    headers = {} if authorization is None else {"authorization": authorization}
    response = await get(build_app(), "/v1/whoami", **headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.headers["x-request-id"]
    body = response.json()
    assert body["success"] is False
    assert body["data"] is None
    assert body["error"]["code"] == "unauthorized"
    assert body["meta"]["request_id"] == response.headers["x-request-id"]


async def test_unknown_paths_under_v1_are_401_too_not_404() -> None:
    response = await get(build_app(), "/v1/nothing-here")
    assert response.status_code == 401


async def test_health_stays_open() -> None:
    response = await get(build_app(), "/health")
    assert response.status_code == 200


async def test_an_identity_asked_for_outside_v1_fails_closed() -> None:
    response = await get(build_app(), "/outside", authorization=f"Bearer {GOOD}")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"


async def test_a_key_store_outage_is_503_not_401() -> None:
    response = await get(build_app(), "/v1/whoami", authorization=f"Bearer {BROKEN_STORE}")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "service_unavailable"


async def test_repeated_failures_from_one_address_are_held_off() -> None:
    app = build_app(failures_per_minute=3)
    statuses = [(await get(app, "/v1/whoami")).status_code for _ in range(5)]
    allowed = await get(app, "/v1/whoami", authorization=f"Bearer {GOOD}")
    assert statuses == [401, 401, 401, 429, 429]
    assert allowed.status_code == 429  # until the minute is over, even with a good key
    assert int(allowed.headers["retry-after"]) >= 1


async def test_openapi_declares_bearer_auth_on_v1_operations_only() -> None:
    document = (await get(build_app(), "/openapi.json")).json()
    scheme = document["components"]["securitySchemes"]["bearerAuth"]
    assert scheme["type"] == "http"
    assert scheme["scheme"] == "bearer"
    whoami = document["paths"]["/v1/whoami"]["get"]
    assert whoami["security"] == [{"bearerAuth": []}]
    assert "401" in whoami["responses"]
    assert "security" not in document["paths"]["/health"]["get"]


async def test_the_identity_dependencies_run_on_the_event_loop_not_in_threads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A plain `def` dependency is sent to the threadpool on every request: two thread hops per
    # read, and under a burst dozens of threads, each with its own malloc arena (the soak).
    sent: list[object] = []

    async def recording(func: Callable[..., object], *args: object, **kwargs: object) -> object:
        sent.append(func)
        return func(*args, **kwargs)

    monkeypatch.setattr(fastapi.dependencies.utils, "run_in_threadpool", recording)
    response = await get(build_app(), "/v1/whoami", authorization=f"Bearer {GOOD}")
    assert response.status_code == 200
    assert sent == []

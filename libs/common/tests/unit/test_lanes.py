"""A lane answers before the router as its route would: same route, same error envelope."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope

from docflow.common.app import create_service_app, install_lane
from docflow.common.errors import NotFound
from docflow.common.identity import Identity
from docflow.common.settings import CommonSettings
from docflow.testing import bearer, static_authenticator

pytestmark = pytest.mark.unit

router = APIRouter(prefix="/v1")
seen: list[tuple[str, Any]] = []
KEY = "dfk_0123456789abcdef_" + "k" * 43


@router.get("/things/{thing_id}")
async def get_thing(thing_id: str) -> dict[str, str]:
    """The route the lane stands in for."""
    return {"id": thing_id, "by": "route"}


async def answer(scope: Scope, receive: Receive) -> Response | None:
    thing_id = scope["path_params"]["thing_id"]
    seen.append((thing_id, scope["route"]))
    if thing_id == "missing":
        raise NotFound("no such thing", code="thing_not_found")
    if thing_id == "routed":
        return None
    return JSONResponse({"id": thing_id, "by": "lane"})


@asynccontextmanager
async def _no_lifespan(app: FastAPI) -> AsyncIterator[None]:
    yield


def build_app() -> FastAPI:
    settings = CommonSettings(service_name="unit", rate_limit_enabled=False)
    app = create_service_app(
        settings=settings,
        title="unit",
        description="unit",
        lifespan=_no_lifespan,
        health_checks=lambda _app: [],
        authenticator=static_authenticator({KEY: Identity(tenant="t", key_id="0123456789abcdef")}),
    )
    app.include_router(router)
    install_lane(app, method="GET", path="/v1/things/{thing_id}", answer=answer)
    return app


async def get(app: FastAPI, path: str, method: str = "GET") -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://unit", headers=bearer(KEY)
    ) as client:
        return await client.request(method, path, headers={"X-Request-ID": "r1"})


async def test_the_lane_answers_with_the_route_it_stands_in_for() -> None:
    seen.clear()
    app = build_app()
    response = await get(app, "/v1/things/t1")
    assert response.json() == {"id": "t1", "by": "lane"}
    assert response.headers["x-request-id"] == "r1"  # the common middleware ran around it
    [(thing_id, route)] = seen
    assert (thing_id, route.path) == ("t1", "/v1/things/{thing_id}")
    assert route.endpoint is get_thing


async def test_none_leaves_the_request_to_the_route() -> None:
    response = await get(build_app(), "/v1/things/routed")
    assert response.json() == {"id": "routed", "by": "route"}


async def test_errors_leave_in_the_envelope() -> None:
    response = await get(build_app(), "/v1/things/missing")
    assert response.status_code == 404
    assert response.json() == {
        "success": False,
        "data": None,
        "error": {"code": "thing_not_found", "message": "no such thing", "details": None},
        "meta": {"request_id": "r1"},
    }


async def test_other_paths_and_methods_pass_by() -> None:
    seen.clear()
    app = build_app()
    assert (await get(app, "/v1/things")).status_code == 404
    assert (await get(app, "/health")).status_code == 200
    assert (await get(app, "/v1/things/t1", method="POST")).status_code == 405
    assert seen == []


def test_a_lane_needs_its_route() -> None:
    app = FastAPI()
    with pytest.raises(LookupError):
        install_lane(app, method="GET", path="/v1/things/{thing_id}", answer=answer)

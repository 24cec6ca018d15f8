"""A lane answers before the router as its route would: same route, same error envelope."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope

from docflow.common import telemetry
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


def _server_span(exporter: InMemorySpanExporter) -> ReadableSpan:
    [span] = [s for s in exporter.get_finished_spans() if s.kind is trace.SpanKind.SERVER]
    exporter.clear()
    return span


async def test_a_lane_gives_the_same_server_span_as_its_route_in_the_callers_trace(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(telemetry, "_provider", provider)  # as configure_tracing leaves it
    caller_trace, caller_span = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    headers = {**bearer(KEY), "traceparent": f"00-{caller_trace}-{caller_span}-01"}
    transport = httpx.ASGITransport(app=build_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://unit") as client:
        assert (await client.get("/v1/things/t1", headers=headers)).json()["by"] == "lane"
        lane = _server_span(exporter)
        assert (await client.get("/v1/things/routed", headers=headers)).json()["by"] == "route"
        routed = _server_span(exporter)
        await client.get("/health")
    provider.shutdown()
    assert lane.name == routed.name == "GET /v1/things/{thing_id}"
    assert lane.attributes is not None
    assert routed.attributes is not None
    assert lane.attributes["http.route"] == routed.attributes["http.route"]
    for span in (lane, routed):
        assert span.parent is not None
        assert format(span.context.trace_id, "032x") == caller_trace
        assert format(span.parent.span_id, "016x") == caller_span
    assert not exporter.get_finished_spans()  # liveness is not traced

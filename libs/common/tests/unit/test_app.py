"""The shared application shell: envelope, error handling, headers, health and metrics
(readiness, details and metrics on the operations app only)."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel
from starlette.types import ASGIApp

from docflow.common.app import create_service_app
from docflow.common.errors import NotFound, PayloadTooLarge
from docflow.common.health import HealthCheck, HealthCheckFailed
from docflow.common.ops import operations_app
from docflow.common.settings import AppEnv, CommonSettings

pytestmark = pytest.mark.unit


class Item(BaseModel):
    quantity: int


@asynccontextmanager
async def _no_lifespan(app: FastAPI) -> AsyncIterator[None]:
    yield


async def _healthy() -> None:
    return None


async def _broken() -> None:
    raise HealthCheckFailed("connection refused")


def build_app(
    *,
    checks: list[HealthCheck],
    app_env: AppEnv = AppEnv.DEVELOPMENT,
    api_docs_public: bool | None = None,
) -> FastAPI:
    settings = CommonSettings(
        service_name="unit",
        app_env=app_env,
        rate_limit_enabled=False,
        cors_origins=["https://app.example"],
        api_docs_public=api_docs_public,
    )
    app = create_service_app(
        settings=settings,
        title="unit",
        description="unit",
        lifespan=_no_lifespan,
        health_checks=lambda _app: checks,
    )

    @app.get("/missing")
    async def missing() -> None:
        raise NotFound("document d1 does not exist", code="document_not_found")

    @app.get("/too-large")
    async def too_large() -> None:
        raise PayloadTooLarge(details={"limit": 10})

    @app.get("/crash")
    async def crash() -> None:
        raise RuntimeError("password=hunter2")

    @app.post("/items")
    async def create(item: Item) -> dict[str, int]:
        return {"quantity": item.quantity}

    return app


async def request(app: ASGIApp, method: str, path: str, **kwargs: object) -> httpx.Response:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://unit") as client:
        return await client.request(method, path, **kwargs)  # type: ignore[arg-type]


async def test_liveness_answers_in_the_envelope_with_the_callers_request_id() -> None:
    response = await request(build_app(checks=[]), "GET", "/health", headers={"X-Request-ID": "r1"})
    assert response.status_code == 200
    assert response.headers["x-request-id"] == "r1"
    body = response.json()
    assert body == {
        "success": True,
        "data": {"status": "ok", "service": "unit"},
        "error": None,
        "meta": {"request_id": "r1"},
    }


async def test_every_response_carries_security_headers() -> None:
    response = await request(build_app(checks=[]), "GET", "/health")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert "strict-transport-security" not in response.headers


async def test_hsts_is_sent_outside_development() -> None:
    app = build_app(checks=[], app_env=AppEnv.STAGING)
    response = await request(app, "GET", "/health")
    assert response.headers["strict-transport-security"].startswith("max-age=")


async def test_expected_errors_render_their_code_and_message() -> None:
    response = await request(build_app(checks=[]), "GET", "/missing")
    assert response.status_code == 404
    assert response.json()["error"] == {
        "code": "document_not_found",
        "message": "document d1 does not exist",
        "details": None,
    }
    large = await request(build_app(checks=[]), "GET", "/too-large")
    assert large.status_code == 413
    assert large.json()["error"]["details"] == {"limit": 10}


async def test_an_unexpected_error_leaks_no_detail_and_keeps_the_request_id() -> None:
    response = await request(
        build_app(checks=[]), "GET", "/crash", headers={"X-Request-ID": "r-crash"}
    )
    assert response.status_code == 500
    assert response.headers["x-request-id"] == "r-crash"
    body = response.json()
    assert body["error"]["code"] == "internal_error"
    assert "hunter2" not in response.text
    assert "Traceback" not in response.text
    assert body["meta"]["request_id"] == "r-crash"


async def test_malformed_json_is_a_400_and_a_schema_failure_a_422() -> None:
    app = build_app(checks=[])
    malformed = await request(
        app, "POST", "/items", content=b"{oops", headers={"content-type": "application/json"}
    )
    assert malformed.status_code == 400
    assert malformed.json()["error"]["code"] == "invalid_json"
    invalid = await request(app, "POST", "/items", json={"quantity": "many"})
    assert invalid.status_code == 422
    error = invalid.json()["error"]
    assert error["code"] == "validation_error"
    assert error["details"][0]["loc"] == ["body", "quantity"]
    assert "many" not in invalid.text  # the input is not echoed back


async def test_unknown_routes_and_methods_use_the_envelope() -> None:
    app = build_app(checks=[])
    assert (await request(app, "GET", "/nowhere")).json()["error"]["code"] == "not_found"
    not_allowed = await request(app, "DELETE", "/health")
    assert not_allowed.status_code == 405
    assert not_allowed.json()["error"]["code"] == "method_not_allowed"


async def test_the_api_app_serves_liveness_only() -> None:
    app = build_app(checks=[HealthCheck("mongodb", _healthy)])
    for path in ("/health/ready", "/health/detailed", "/metrics"):
        response = await request(app, "GET", path)
        assert response.status_code == 404, path
        assert response.json()["error"]["code"] == "not_found"
    assert (await request(app, "GET", "/health")).json()["data"] == {
        "status": "ok",
        "service": "unit",
    }


async def test_the_operations_app_answers_liveness_with_a_request_id() -> None:
    ops = operations_app(build_app(checks=[]))
    response = await request(ops, "GET", "/health", headers={"X-Request-ID": "r-ops"})
    assert response.status_code == 200
    assert response.headers["x-request-id"] == "r-ops"
    assert (await request(ops, "GET", "/openapi.json")).status_code == 404


async def test_ready_is_200_while_degraded_and_names_each_state() -> None:
    checks = [HealthCheck("mongodb", _healthy), HealthCheck("cache", _broken, required=False)]
    response = await request(operations_app(build_app(checks=checks)), "GET", "/health/ready")
    assert response.status_code == 200
    assert response.json()["data"] == {
        "status": "degraded",
        "service": "unit",
        "dependencies": {"mongodb": "ok", "cache": "degraded"},
    }


async def test_ready_is_503_when_a_required_check_fails() -> None:
    checks = [HealthCheck("kafka", _broken)]
    response = await request(operations_app(build_app(checks=checks)), "GET", "/health/ready")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "not_ready"


async def test_docs_are_served_only_when_public() -> None:
    public = build_app(checks=[])
    assert (await request(public, "GET", "/openapi.json")).status_code == 200
    private = build_app(checks=[], api_docs_public=False)
    for path in ("/docs", "/redoc", "/openapi.json"):
        assert (await request(private, "GET", path)).status_code == 404, path


async def test_details_are_200_when_required_checks_pass_and_report_resources() -> None:
    checks = [HealthCheck("mongodb", _healthy), HealthCheck("cache", _broken, required=False)]
    ops = operations_app(build_app(checks=checks))
    response = await request(ops, "GET", "/health/detailed")
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["status"] == "degraded"
    assert data["dependencies"]["mongodb"]["status"] == "ok"
    assert data["dependencies"]["cache"] == {
        "status": "degraded",
        "error": "connection refused",
        "required": False,
        "latency_ms": data["dependencies"]["cache"]["latency_ms"],
    }
    assert {"cpu_percent", "memory_percent", "disk_percent"} <= set(data["system"])


async def test_details_are_503_when_a_required_check_fails() -> None:
    checks = [HealthCheck("kafka", _broken)]
    ops = operations_app(build_app(checks=checks))
    response = await request(ops, "GET", "/health/detailed")
    assert response.status_code == 503
    body = response.json()
    assert body["success"] is False
    assert body["error"]["code"] == "not_ready"
    assert body["data"]["dependencies"]["kafka"]["status"] == "failing"


async def test_metrics_are_exposed_in_prometheus_format_with_route_templates() -> None:
    app = build_app(checks=[])
    await request(app, "GET", "/missing")
    response = await request(operations_app(app), "GET", "/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert 'route="/missing"' in response.text
    assert "docflow_http_request_duration_seconds_bucket" in response.text


async def test_cors_answers_allowed_origins_only_and_every_response_varies_by_origin() -> None:
    app = build_app(checks=[])
    allowed = await request(app, "GET", "/health", headers={"Origin": "https://app.example"})
    assert allowed.headers["access-control-allow-origin"] == "https://app.example"
    assert "Origin" in allowed.headers["vary"]
    other = await request(app, "GET", "/health", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers
    server_to_server = await request(app, "GET", "/health")
    assert "access-control-allow-origin" not in server_to_server.headers
    assert server_to_server.headers["vary"] == "Origin"


async def test_cors_preflight_names_what_may_be_sent() -> None:
    headers = {
        "Origin": "https://app.example",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "Idempotency-Key",
    }
    response = await request(build_app(checks=[]), "OPTIONS", "/items", headers=headers)
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "https://app.example"
    assert "POST" in response.headers["access-control-allow-methods"]


async def test_unknown_methods_share_one_metrics_series() -> None:
    app = build_app(checks=[])
    await request(app, "BREW", "/coffee")
    response = await request(operations_app(app), "GET", "/metrics")
    assert 'method="other"' in response.text
    assert 'method="BREW"' not in response.text

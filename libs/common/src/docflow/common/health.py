"""Liveness (`/health`), readiness (`/health/ready`) and details (`/health/detailed`).

Liveness answers on the API port too; readiness and details only on the operations port
(ops.py), since they describe the dependencies and the host.

A check is an async callable that raises when its dependency is unusable. Required checks
decide readiness (503 when one fails); optional ones report `degraded` and keep the service
ready, so a service that can work around an outage (the query cache) stays in rotation.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import psutil
from fastapi import APIRouter
from starlette.responses import Response

from docflow.common.envelope import APIResponse, EnvelopeResponse, error_envelope, ok
from docflow.common.metrics import READINESS_CHANGES, READY
from docflow.common.telemetry import untraced

CheckFn = Callable[[], Awaitable[object]]


@dataclass(frozen=True, slots=True)
class HealthCheck:
    name: str
    check: CheckFn
    required: bool = True


async def _run_check(check: HealthCheck, timeout_s: float) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        detail = await asyncio.wait_for(check.check(), timeout=timeout_s)
    except Exception as exc:
        state = "failing" if check.required else "degraded"
        # The exception's type names the failure without echoing a URI that may hold a password.
        result: dict[str, Any] = {"status": state, "error": type(exc).__name__}
        if isinstance(exc, HealthCheckFailed):
            result["error"] = str(exc)
    else:
        result = {"status": "ok"}
        if isinstance(detail, dict):
            result["detail"] = detail
    result["required"] = check.required
    result["latency_ms"] = round((time.perf_counter() - started) * 1000, 2)
    return result


class HealthCheckFailed(Exception):
    """Raised by a check with a message that is safe to show (no secrets)."""


def system_resources() -> dict[str, Any]:
    memory = psutil.virtual_memory()
    disk = psutil.disk_usage("/")
    process = psutil.Process()
    return {
        "cpu_percent": psutil.cpu_percent(interval=None),
        "cpu_count": psutil.cpu_count(),
        "memory_percent": memory.percent,
        "memory_available_mb": round(memory.available / 2**20, 1),
        "process_rss_mb": round(process.memory_info().rss / 2**20, 1),
        "disk_percent": disk.percent,
        "disk_free_gb": round(disk.free / 2**30, 2),
    }


def liveness_router(*, service: str) -> APIRouter:
    """`GET /health`, on the API port and the operations port alike."""
    router = APIRouter(tags=["health"])

    @router.get("/health", response_model=APIResponse[dict[str, str]])
    async def liveness() -> Response:
        """Liveness: answers while the process can serve; touches no dependency."""
        return ok({"status": "ok", "service": service})

    return router


async def _dependencies(
    checks: Sequence[HealthCheck], timeout_s: float
) -> tuple[str, dict[str, dict[str, Any]]]:
    """The overall state (ok, degraded, failing) and each dependency's result."""
    with untraced():  # probes every few seconds are not worth a trace each
        results = await asyncio.gather(*(_run_check(c, timeout_s) for c in checks))
    dependencies = {c.name: r for c, r in zip(checks, results, strict=True)}
    failing = any(r["status"] == "failing" for r in results)
    degraded = any(r["status"] == "degraded" for r in results)
    return ("failing" if failing else "degraded" if degraded else "ok"), dependencies


def _answer(body: dict[str, Any]) -> Response:
    if body["status"] != "failing":
        return ok(body)
    payload = error_envelope("not_ready", "A required dependency is failing.")
    payload["data"] = body
    return EnvelopeResponse(payload, status_code=503)


def operations_router(
    *, service: str, checks: Callable[[], Sequence[HealthCheck]], timeout_s: float
) -> APIRouter:
    """Readiness and details, for the operations port only (they describe the host)."""
    router = APIRouter(tags=["health"])
    not_ready: dict[int | str, dict[str, Any]] = {
        503: {"description": "A required dependency is failing."}
    }
    ready_gauge, changes = READY.labels(service), READINESS_CHANGES.labels(service)
    last_answer: list[bool] = []  # the previous probe's answer, once there was one

    @router.get("/health/ready", response_model=APIResponse[dict[str, Any]], responses=not_ready)
    async def readiness() -> Response:
        """Readiness: 200 while the service can do its job (degraded included), else 503."""
        status, dependencies = await _dependencies(list(checks()), timeout_s)
        states = {name: result["status"] for name, result in dependencies.items()}
        ready = status != "failing"
        if last_answer and last_answer[-1] != ready:
            changes.inc()  # counted here: a flip between two scrapes would not show in the gauge
        last_answer[:] = [ready]
        ready_gauge.set(1 if ready else 0)
        return _answer({"status": status, "service": service, "dependencies": states})

    @router.get("/health/detailed", response_model=APIResponse[dict[str, Any]], responses=not_ready)
    async def detailed() -> Response:
        """Each dependency's state and latency, plus CPU, memory and disk."""
        status, dependencies = await _dependencies(list(checks()), timeout_s)
        body = {
            "status": status,
            "service": service,
            "dependencies": dependencies,
            "system": await asyncio.to_thread(system_resources),
        }
        return _answer(body)

    return router

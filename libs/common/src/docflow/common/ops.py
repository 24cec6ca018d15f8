"""The operations port (OPS_PORT): `/health`, `/health/ready`, `/health/detailed`, `/metrics`.

Readiness, dependency details, host resources and metrics are for the cluster (probes,
Prometheus), not for API clients: they answer on a port of their own, which a NetworkPolicy
keeps from the API's callers. Both ports are served by one uvicorn server in the service's
process: it listens on two sockets and `ByPort` hands each request to the app of the port it
arrived on, so one lifespan, one signal handler and one graceful shutdown cover both.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Sequence
from typing import Any

from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from docflow.common.errors import install_error_handlers
from docflow.common.health import HealthCheck, liveness_router, operations_router
from docflow.common.metrics import metrics_endpoint
from docflow.common.middleware import RequestContextMiddleware
from docflow.common.settings import CommonSettings


def create_ops_app(
    *,
    settings: CommonSettings,
    service_app: FastAPI,
    health_checks: Callable[[FastAPI], Sequence[HealthCheck]],
) -> FastAPI:
    """The operations app of `service_app`: its checks run against the service's state."""
    ops = FastAPI(
        title=f"docflow {settings.service_name} operations",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    install_error_handlers(ops)
    ops.include_router(liveness_router(service=settings.service_name))
    ops.include_router(
        operations_router(
            service=settings.service_name,
            checks=lambda: health_checks(service_app),
            timeout_s=settings.health_check_timeout_s,
        )
    )
    ops.add_route("/metrics", metrics_endpoint, include_in_schema=False)
    # Probes every few seconds would drown the access log; they still get a request id.
    ops.add_middleware(
        RequestContextMiddleware,
        service=settings.service_name,
        production_like=not settings.is_development,
        access_log=False,
    )
    service_app.state.operations = ops
    return ops


def operations_app(service_app: FastAPI) -> FastAPI:
    """The operations app `create_service_app` built for this service app."""
    ops = getattr(service_app.state, "operations", None)
    if not isinstance(ops, FastAPI):
        raise LookupError("this app was not built by create_service_app")
    return ops


class ByPort:
    """Serves a request with `ops` when it arrived on `ops_port`, otherwise with `api`.

    uvicorn sets `scope["server"]` to the local address of the accepted connection. The
    lifespan belongs to `api` (it owns every client); `ops` has none.
    """

    def __init__(self, *, api: ASGIApp, ops: ASGIApp, ops_port: int) -> None:
        self.api, self.ops, self.ops_port = api, ops, ops_port

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        server = scope.get("server")
        if scope["type"] != "lifespan" and server is not None and server[1] == self.ops_port:
            await self.ops(scope, receive, send)
        else:
            await self.api(scope, receive, send)


def uvicorn_options(settings: CommonSettings) -> dict[str, Any]:
    """uvicorn's settings for a service; proxy headers only from the proxies named."""
    trusted_proxies = settings.forwarded_allow_ips.strip()
    return {
        "log_config": None,
        "access_log": False,
        "proxy_headers": bool(trusted_proxies),
        # uvicorn falls back to $FORWARDED_ALLOW_IPS or 127.0.0.1 when this is None.
        "forwarded_allow_ips": trusted_proxies or [],
        "server_header": False,
        "timeout_graceful_shutdown": settings.graceful_shutdown_s,
        "timeout_keep_alive": settings.http_keep_alive_s,
    }


def serve(app: FastAPI, settings: CommonSettings) -> None:
    """Run `app` on HTTP_PORT and its operations app on OPS_PORT until SIGINT/SIGTERM."""
    import uvicorn

    options = uvicorn_options(settings)
    dispatcher = ByPort(api=app, ops=operations_app(app), ops_port=settings.ops_port)
    config = uvicorn.Config(dispatcher, host=settings.http_host, port=settings.http_port, **options)
    sockets: list[socket.socket] = [config.bind_socket()]
    ops_config = uvicorn.Config(dispatcher, host=settings.http_host, port=settings.ops_port)
    sockets.append(ops_config.bind_socket())
    uvicorn.Server(config).run(sockets=sockets)

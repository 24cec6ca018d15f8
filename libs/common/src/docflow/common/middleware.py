"""One pure-ASGI middleware for what every request needs: correlation id, security headers,
an access log line and metrics. Pure ASGI (not BaseHTTPMiddleware) because it sits on the hot
path of every cached read and must cost microseconds, not a task switch.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from docflow.common.context import accept_request_id, request_id_var
from docflow.common.envelope import error_response
from docflow.common.errors import DocflowError
from docflow.common.http_bodies import BodyLog, Exchange
from docflow.common.metrics import HTTP_LATENCY, HTTP_REQUESTS

access_logger = logging.getLogger("docflow.access")

_REQUEST_ID_HEADER = b"x-request-id"
_USER_AGENT_CHARS = 256  # the caller writes it; a bound keeps one line from growing unbounded
_UNMATCHED_ROUTE = "unmatched"  # bounds label cardinality: 404s do not create a series per path
# Any token is a method to uvicorn; others are counted together so clients cannot add series.
_VARY_ORIGIN = (b"vary", b"Origin")
_KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def security_headers(*, production_like: bool) -> list[tuple[bytes, bytes]]:
    headers = [
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", b"DENY"),
        (b"referrer-policy", b"no-referrer"),
        (b"cross-origin-opener-policy", b"same-origin"),
        (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
        # The API serves JSON only; the docs pages get a relaxed policy in `docs_policy`.
        (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"),
    ]
    if production_like:
        headers.append((b"strict-transport-security", b"max-age=63072000; includeSubDomains"))
    return headers


# Swagger UI and ReDoc load their assets from a CDN and run inline scripts.
_DOCS_POLICY = (
    b"default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    b"style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com; "
    b"img-src 'self' data: https://fastapi.tiangolo.com; font-src https://fonts.gstatic.com; "
    b"worker-src blob:; frame-ancestors 'none'"
)
_DOCS_PATHS = ("/docs", "/redoc")


class OriginCORSMiddleware(CORSMiddleware):
    """Starlette's CORS handling, engaged only for requests that carry an Origin header.

    Server-to-server callers send none, and for them Starlette would still parse the headers
    and wrap `send` just to add `Vary: Origin`, which RequestContextMiddleware adds instead.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and any(name == b"origin" for name, _ in scope["headers"]):
            await super().__call__(scope, receive, send)
            return
        await self.app(scope, receive, send)


class RequestContextMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        service: str,
        production_like: bool,
        access_log: bool = True,
        body_log: BodyLog | None = None,
    ) -> None:
        self.app = app
        self.service = service
        self.access_log = access_log
        self.body_log = body_log  # None: LOG_BODIES=off, no body is captured
        self.headers = security_headers(production_like=production_like)
        self.docs_headers = [
            (name, _DOCS_POLICY if name == b"content-security-policy" else value)
            for name, value in self.headers
        ]
        # Responses vary by Origin (CORS headers). OriginCORSMiddleware says so itself when a
        # request has an Origin; for the others, the bulk of API traffic, it is added here.
        self.headers_vary = [*self.headers, _VARY_ORIGIN]
        self.docs_headers_vary = [*self.docs_headers, _VARY_ORIGIN]
        # The labelled children of the request metrics, looked up once per series (labels()
        # takes a lock and builds a tuple each call). Bounded: routes x methods x statuses.
        self._series: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        caller_id = None
        has_origin = False
        user_agent = None
        request_bytes = None
        for name, value in scope["headers"]:
            if name == _REQUEST_ID_HEADER:
                caller_id = value.decode("latin-1")
            elif name == b"origin":
                has_origin = True
            elif name == b"user-agent":
                user_agent = value[:_USER_AGENT_CHARS].decode("latin-1")
            elif name == b"content-length" and value.isdigit():
                request_bytes = int(value)
        request_id = accept_request_id(caller_id)
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500
        if scope["path"].startswith(_DOCS_PATHS):
            extra_headers = self.docs_headers if has_origin else self.docs_headers_vary
        else:
            extra_headers = self.headers if has_origin else self.headers_vary
        encoded_id = request_id.encode("latin-1")

        response_started = False
        response_bytes = 0
        body_log = self.body_log
        exchange = None
        if body_log is not None:
            exchange = Exchange()
            receive = exchange.wrap_receive(receive)
            send = exchange.wrap_send(send)

        async def send_with_headers(message: Message) -> None:
            nonlocal status, response_started, response_bytes
            if message["type"] == "http.response.body":
                response_bytes += len(message.get("body", b""))
            elif message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                headers = list(message.get("headers", ()))
                headers.append((_REQUEST_ID_HEADER, encoded_id))
                headers.extend(extra_headers)
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            # Answered here rather than by Starlette's outermost handler, so that the 500
            # still carries the request id and security headers. The trace goes to the log only.
            access_logger.exception("unhandled error", extra={"path": scope["path"]})
            if response_started:
                raise
            response = error_response(500, "internal_error", DocflowError.default_message)
            await response(scope, receive, send_with_headers)
        finally:
            elapsed = time.perf_counter() - started
            method = scope["method"]
            requests, latency = self._metrics(scope, method, status)
            requests.inc()
            latency.observe(elapsed)
            if self.access_log:
                client = scope.get("client")
                access_logger.info(
                    "%s %s %d",
                    method,
                    scope["path"],
                    status,
                    extra={
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 2),
                        "route": getattr(scope.get("route"), "path", None),
                        "client": client[0] if client else None,
                        "user_agent": user_agent,
                        "request_bytes": request_bytes,
                        "response_bytes": response_bytes,
                    },
                )
            if body_log is not None and exchange is not None:
                body_log.write(scope, exchange, status)
            request_id_var.reset(token)

    def _metrics(self, scope: Scope, method: str, status: int) -> tuple[Any, Any]:
        template = getattr(scope.get("route"), "path", _UNMATCHED_ROUTE)
        label = method if method in _KNOWN_METHODS else "other"
        key = (label, template, status)
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = (
                HTTP_REQUESTS.labels(self.service, label, template, str(status)),
                HTTP_LATENCY.labels(self.service, label, template),
            )
        return series

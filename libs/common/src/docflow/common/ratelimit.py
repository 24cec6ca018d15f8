"""Rate limits with slowapi, counted in Redis so every replica shares one budget.

Each client (remote address) gets `RATE_LIMIT_DEFAULT` requests across the whole API; routes
may add their own with `@limiter.limit`. The check runs in a pure-ASGI middleware by request
path: slowapi's own middleware looks the endpoint up in `app.routes`, which FastAPI (0.13x and
later) no longer flattens for included routers, so it found nothing and limited nothing.

If Redis is unreachable the limiter falls back to per-process memory instead of failing the
request: a cache outage must not take the API down with it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from typing import cast

from fastapi import FastAPI, Request
from slowapi import Limiter
from slowapi.errors import RateLimitExceeded
from slowapi.wrappers import Limit
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from docflow.common.envelope import error_response
from docflow.common.ratelimit_storage import SCHEME_PREFIX
from docflow.common.settings import CommonSettings


def create_limiter(settings: CommonSettings) -> Limiter:
    return Limiter(
        key_func=get_client_address,
        # An application limit is one budget per client over every route; slowapi's default
        # limits would count each URL apart (each document id its own budget).
        application_limits=[settings.rate_limit_default],
        # Counted in process, shared through Redis in the background (ratelimit_storage.py):
        # slowapi's check is synchronous, and a Redis round trip per request blocked the loop.
        storage_uri=SCHEME_PREFIX + settings.redis_url.get_secret_value(),
        # slowapi annotates these as strings, but they reach redis-py, which wants floats.
        storage_options=cast(
            dict[str, str],
            {
                "socket_timeout": settings.redis_timeout_s,
                "socket_connect_timeout": settings.redis_timeout_s,
            },
        ),
        strategy="fixed-window",
        key_prefix=f"{settings.redis_key_prefix}:ratelimit:{settings.service_name}",
        enabled=settings.rate_limit_enabled,
        headers_enabled=False,
        swallow_errors=True,
        in_memory_fallback_enabled=True,
    )


def get_client_address(request: Request) -> str:
    client = request.scope.get("client")
    return client[0] if client else "127.0.0.1"


async def _rate_limit_exceeded(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RateLimitExceeded)
    retry_after = 1
    limiter: Limiter = request.app.state.limiter
    current = getattr(request.state, "view_rate_limit", None)
    if current is not None:
        reset_at, _remaining = limiter.limiter.get_window_stats(current[0], *current[1])
        retry_after = max(1, math.ceil(reset_at - time.time()))
    return error_response(
        429,
        "rate_limited",
        f"Rate limit exceeded ({exc.detail}); retry after {retry_after} s.",
        headers={"Retry-After": str(retry_after)},
    )


class RateLimitMiddleware:
    """Counts every HTTP request against the client's budget, except on `exempt_paths`.

    It counts the application limits itself, as limits' fixed-window strategy does, rather
    than through slowapi's request check, which costs more than the count (a signature
    inspection per request); each client's storage keys are built once.
    """

    _MAX_CACHED_CLIENTS = 10_000

    def __init__(self, app: ASGIApp, *, limiter: Limiter, exempt_paths: Iterable[str]) -> None:
        self.app = app
        self.limiter = limiter
        self.exempt_paths = frozenset(exempt_paths)
        self.limits = [limit for group in limiter._application_limits for limit in group]
        self.key_prefix = limiter._key_prefix
        self._keys: dict[str, list[str]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or not self.limiter.enabled
            or scope["path"] in self.exempt_paths
        ):
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        address = client[0] if client else "127.0.0.1"
        exceeded = self._hit(address)
        if exceeded is None:
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        request.state.view_rate_limit = (exceeded.limit, [self.key_prefix, address, "global"])
        response = await _rate_limit_exceeded(request, RateLimitExceeded(exceeded))
        await response(scope, receive, send)

    def _hit(self, client: str) -> Limit | None:
        keys = self._keys.get(client)
        if keys is None:
            if len(self._keys) >= self._MAX_CACHED_CLIENTS:
                self._keys.clear()
            keys = self._keys[client] = [
                limit.limit.key_for(self.key_prefix, client, "global") for limit in self.limits
            ]
        storage = self.limiter.limiter.storage  # the memory fallback while Redis is "dead"
        for limit, key in zip(self.limits, keys, strict=True):
            item = limit.limit
            if storage.incr(key, item.get_expiry(), amount=1) > item.amount:
                return limit
        return None


def install_rate_limiting(
    app: FastAPI, settings: CommonSettings, *, exempt_paths: Iterable[str] = ()
) -> Limiter:
    limiter = create_limiter(settings)
    app.state.limiter = limiter
    app.add_exception_handler(RateLimitExceeded, _rate_limit_exceeded)
    app.add_middleware(RateLimitMiddleware, limiter=limiter, exempt_paths=exempt_paths)
    return limiter

"""Rate limits with slowapi, counted in Redis so every replica shares one budget.

If Redis is unreachable the limiter falls back to per-process memory instead of failing the
request: a cache outage must not take the API down with it.
"""

from __future__ import annotations

import math
import time
from typing import cast

from fastapi import FastAPI, Request
from slowapi import Limiter
from slowapi.errors import RateLimitExceeded
from slowapi.middleware import SlowAPIASGIMiddleware
from slowapi.util import get_remote_address
from starlette.responses import Response

from docflow.common.envelope import error_response
from docflow.common.settings import CommonSettings


def create_limiter(settings: CommonSettings) -> Limiter:
    return Limiter(
        key_func=get_remote_address,
        default_limits=[settings.rate_limit_default],
        storage_uri=settings.redis_url.get_secret_value(),
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


def install_rate_limiting(app: FastAPI, settings: CommonSettings) -> Limiter:
    limiter = create_limiter(settings)
    app.state.limiter = limiter
    app.add_exception_handler(RateLimitExceeded, _rate_limit_exceeded)
    app.add_middleware(SlowAPIASGIMiddleware)
    return limiter

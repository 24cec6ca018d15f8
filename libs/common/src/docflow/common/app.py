"""The FastAPI application every service starts from: envelope errors, correlation ids,
security headers, CORS, authentication, rate limits, liveness and the event-loop lag
(loop_lag.py), wired the same way everywhere; readiness, details and metrics go to the operations
app (ops.py) on its own port; and `install_lane` (lanes.py) for a hot route answered before the
router.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from fastapi import FastAPI

from docflow.common.errors import install_error_handlers
from docflow.common.health import HealthCheck, liveness_router
from docflow.common.http_bodies import BodyLog
from docflow.common.identity.authenticator import Authenticator, StoreAuthenticator
from docflow.common.identity.middleware import AuthenticationMiddleware
from docflow.common.identity.openapi import document_bearer_auth
from docflow.common.lanes import install_lane
from docflow.common.loop_lag import with_loop_lag
from docflow.common.middleware import OriginCORSMiddleware, RequestContextMiddleware
from docflow.common.ops import create_ops_app, serve
from docflow.common.ratelimit import install_rate_limiting
from docflow.common.settings import CommonSettings
from docflow.common.telemetry import configure_tracing, instrument_app, shutdown_tracing

__all__ = ["UNLIMITED_PATHS", "create_service_app", "install_lane", "run_service"]

# Liveness probes call it often; it must never be rate limited.
UNLIMITED_PATHS = ("/health",)


def create_service_app(
    *,
    settings: CommonSettings,
    title: str,
    description: str,
    lifespan: Any,
    health_checks: Callable[[FastAPI], Sequence[HealthCheck]],
    rate_limited: bool = True,
    authenticator: Authenticator | None = None,
) -> FastAPI:
    """`authenticator` replaces the key store (tests); by default keys are read from MongoDB."""
    if authenticator is None:
        authenticator = StoreAuthenticator(settings)
        lifespan = authenticator.around(lifespan)
    lifespan = with_loop_lag(lifespan, service=settings.service_name)
    app = FastAPI(
        title=title,
        description=description,
        version="1.0.0",
        lifespan=lifespan,
        openapi_tags=[{"name": "health", "description": "Liveness."}],
        # Off in production unless API_DOCS_PUBLIC says otherwise.
        docs_url="/docs" if settings.docs_public else None,
        redoc_url="/redoc" if settings.docs_public else None,
        openapi_url="/openapi.json" if settings.docs_public else None,
    )
    app.state.settings = settings
    install_error_handlers(app)
    app.include_router(liveness_router(service=settings.service_name))
    create_ops_app(settings=settings, service_app=app, health_checks=health_checks)

    # Middleware order: the last added runs first. The context middleware is outermost so
    # that even a rate-limited or CORS-refused response carries the request id and headers.
    # Authentication runs inside CORS (preflights carry no credentials) and outside the rate
    # limits (which can then count per key) and the services' lanes (so no path skips it).
    if rate_limited:
        install_rate_limiting(app, settings, exempt_paths=UNLIMITED_PATHS)
    app.add_middleware(
        AuthenticationMiddleware,
        authenticator=authenticator,
        failures_per_minute=settings.auth_failures_per_minute,
    )
    document_bearer_auth(app)
    app.add_middleware(
        OriginCORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_methods=["GET", "POST", "OPTIONS"],
        allow_headers=[
            "Authorization",
            "Content-Type",
            "Idempotency-Key",
            "If-None-Match",
            "X-Request-ID",
        ],
        expose_headers=["X-Request-ID", "ETag", "Retry-After"],
        max_age=600,
    )
    app.add_middleware(
        RequestContextMiddleware,
        service=settings.service_name,
        production_like=not settings.is_development,
        access_log=settings.access_log,
        body_log=BodyLog.from_settings(settings),
    )
    instrument_app(app, settings)
    return app


def run_service(app_factory: Callable[[], FastAPI], settings: CommonSettings) -> None:
    """Serve an app on HTTP_PORT and its operations app on OPS_PORT (the console scripts),
    traced when OTEL_* asks for it; what the spans hold is exported before the process ends."""
    configure_tracing(settings)
    try:
        serve(app_factory(), settings)
    finally:
        shutdown_tracing()

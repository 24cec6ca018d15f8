"""The API key a benchmark sends, and the bearer check its bare baseline makes in its place.

Every `/v1` endpoint needs `Authorization: Bearer <key>`. A benchmark creates a key (tenant
`default`, the tenant of the documents it preloads) in the database that the services it
starts read, and sends it on every request: wrk through its `-H` option (the scripts' `request`
functions build requests with `wrk.format`, which adds `wrk.headers`, where `-H` puts it), httpx
and Locust as a default header. The key only opens the benchmark's own database.

The bare FastAPI baselines of bench_ingest and bench_query check a bearer token as well, with
`BearerCheck`: the same header parsing as docflow's middleware, then a dict lookup of the token,
401 without a known one. That is docflow's authentication on a cache hit less the SHA-256 of the
key (about a microsecond, `make bench-auth`), so the ratios compare like with like; a baseline
without any check would charge docflow for authenticating while the baseline does not.
"""

from __future__ import annotations

import asyncio
import os

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from docflow.common.identity.keys import DEFAULT_TENANT
from docflow.common.identity.middleware import bearer_token, is_protected
from docflow.testing import create_api_key

KEY_ENV = "DOCFLOW_BENCH_API_KEY"  # hands the key to a bare baseline process (not argv: ps)


def new_key(*, mongodb_uri: str, database: str) -> str:
    """A key of tenant `default` in `database`, for a benchmark that is not inside a loop."""
    return asyncio.run(bench_key(mongodb_uri=mongodb_uri, database=database))


async def bench_key(*, mongodb_uri: str, database: str) -> str:
    return await create_api_key(
        mongodb_uri=mongodb_uri, database=database, tenant=DEFAULT_TENANT, name="benchmark"
    )


def authorization(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def wrk_options(key: str) -> list[str]:
    return ["-H", f"Authorization: Bearer {key}"]


class BearerCheck:
    """A bare baseline's authentication: docflow's header parsing, then a dict lookup."""

    def __init__(self, app: ASGIApp, *, tenants_by_token: dict[str, str]) -> None:
        self.app = app
        self.tenants_by_token = tenants_by_token
        self.unauthorized = JSONResponse(
            {"success": False, "error": {"code": "unauthorized"}},
            status_code=401,
            headers={"WWW-Authenticate": "Bearer"},
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and is_protected(scope["path"]):
            token = bearer_token(scope)
            tenant = self.tenants_by_token.get(token) if token else None
            if tenant is None:
                await self.unauthorized(scope, receive, send)
                return
            scope.setdefault("state", {})["tenant"] = tenant
        await self.app(scope, receive, send)


def baseline_tokens() -> dict[str, str]:
    """The bare app's known tokens: the one key its benchmark handed it in `KEY_ENV`."""
    key = os.environ.get(KEY_ENV)
    if not key:
        raise SystemExit(f"{KEY_ENV} is not set: the bare app is started by its benchmark")
    return {key: DEFAULT_TENANT}

"""Rate limits per client, counted with `limits` and shared by every replica through Redis.

A client is its API key on `/v1` (authentication runs before the limits and left the identity
in the scope), so callers behind one NAT have a budget each and one key spread over many
addresses has one; elsewhere (`/health`, `/docs`) a client is its remote address.
Each client gets `RATE_LIMIT_DEFAULT` requests across the whole API, checked
by a pure-ASGI middleware on every path but the exempt ones; a route may add a tighter budget
of its own (ingest's uploads). Built on `limits` (slowapi's engine) through its public API:
slowapi's middleware limits no route of an included router with current FastAPI, and what is
left of slowapi's public surface (route decorators) is not what docflow needs (README, "Rate
limits").

If Redis is unreachable each process keeps counting on its own: a cache outage must not take
the API down with it (ratelimit_storage.py).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable

from fastapi import FastAPI
from limits import RateLimitItem, parse_many
from limits.storage import Storage
from starlette.types import ASGIApp, Receive, Scope, Send

from docflow.common.errors import RateLimited, render_docflow_error
from docflow.common.identity.keys import Identity
from docflow.common.identity.middleware import IDENTITY_STATE
from docflow.common.ratelimit_storage import SCHEME_PREFIX, BufferedRedisStorage
from docflow.common.settings import CommonSettings

_DEFAULT_BUDGET = "global"  # the name its Redis keys have carried since the first release


def client_address(scope: Scope) -> str:
    client = scope.get("client")
    return client[0] if client else "127.0.0.1"


def rate_limit_client(scope: Scope) -> str:
    """Who a request counts against: `key:<key id>` when authenticated, else its address.
    (The prefix keeps a key id from ever naming the same counter as an address.)"""
    state = scope.get("state")
    identity = state.get(IDENTITY_STATE) if state is not None else None
    if isinstance(identity, Identity):
        return f"key:{identity.key_id}"
    return client_address(scope)


class Budget:
    """One set of limits (`"120/minute"`, `"10/second;1000/hour"`), counted per client.

    Counts like limits' fixed-window strategy (`storage.incr` of the limit's key for the
    window), but builds each client's keys once: `RateLimitItem.key_for` cost about as much
    as the count itself, on every request.
    """

    _MAX_CACHED_CLIENTS = 10_000

    def __init__(self, *, name: str, limits: str, storage: Storage, key_prefix: str) -> None:
        self.name = name
        self.limits: list[RateLimitItem] = parse_many(limits)
        self.storage = storage
        self.key_prefix = key_prefix
        self._keys: dict[str, list[str]] = {}

    def hit(self, client: str) -> None:
        """Count one request of `client`; raise RateLimited if it went over a limit."""
        keys = self._keys.get(client)
        if keys is None:
            if len(self._keys) >= self._MAX_CACHED_CLIENTS:
                self._keys.clear()
            keys = self._keys[client] = [
                limit.key_for(self.key_prefix, client, self.name) for limit in self.limits
            ]
        for limit, key in zip(self.limits, keys, strict=True):
            if self.storage.incr(key, limit.get_expiry(), amount=1) > limit.amount:
                retry_after = max(1, math.ceil(self.storage.get_expiry(key) - time.time()))
                raise RateLimited(
                    f"Rate limit exceeded ({limit}); retry after {retry_after} s.",
                    headers={"Retry-After": str(retry_after)},
                )


class RateLimits:
    """The budgets of one service over one storage; `app.state.rate_limits` once installed."""

    def __init__(self, settings: CommonSettings) -> None:
        self.enabled = settings.rate_limit_enabled
        # Counted in process, shared through Redis in the background: a Redis round trip per
        # request on the event loop cost about 300 us of a 700 us cached read.
        self.storage = BufferedRedisStorage(
            SCHEME_PREFIX + settings.redis_url.get_secret_value(),
            socket_timeout=settings.redis_timeout_s,
            socket_connect_timeout=settings.redis_timeout_s,
        )
        self.key_prefix = f"{settings.redis_key_prefix}:ratelimit:{settings.service_name}"
        self._budgets: dict[str, Budget] = {}
        # One budget per client over every route: per-route counting would give each URL (each
        # document id) a budget of its own.
        self.default = self.budget(_DEFAULT_BUDGET, settings.rate_limit_default)

    def budget(self, name: str, limits: str) -> Budget:
        """The budget called `name`, created on first use with `limits`."""
        budget = self._budgets.get(name)
        if budget is None:
            budget = self._budgets[name] = Budget(
                name=name, limits=limits, storage=self.storage, key_prefix=self.key_prefix
            )
        return budget

    def hit(self, name: str, limits: str, client: str) -> None:
        """Count a request against a route's own budget; raise RateLimited when it is spent."""
        if self.enabled:
            self.budget(name, limits).hit(client)


class RateLimitMiddleware:
    """Counts every HTTP request against its client's default budget (`rate_limit_client`),
    except on `exempt_paths`."""

    def __init__(
        self, app: ASGIApp, *, rate_limits: RateLimits, exempt_paths: Iterable[str]
    ) -> None:
        self.app = app
        self.budget = rate_limits.default
        self.exempt_paths = frozenset(exempt_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] not in self.exempt_paths:
            try:
                self.budget.hit(rate_limit_client(scope))
            except RateLimited as refusal:
                await render_docflow_error(refusal)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def install_rate_limiting(
    app: FastAPI, settings: CommonSettings, *, exempt_paths: Iterable[str] = ()
) -> RateLimits:
    rate_limits = RateLimits(settings)
    app.state.rate_limits = rate_limits
    if rate_limits.enabled:
        app.add_middleware(RateLimitMiddleware, rate_limits=rate_limits, exempt_paths=exempt_paths)
    return rate_limits

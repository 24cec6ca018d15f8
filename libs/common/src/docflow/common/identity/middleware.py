"""Authentication of every `/v1` request, before the rate limits, the fast lanes and the router.

Pure ASGI, like the rest of the hot path. A verified caller's `Identity` goes into
`scope["state"]["identity"]` (FastAPI reads it as `request.state.identity`; see deps.py).
Everything else gets 401 `unauthorized` with `WWW-Authenticate: Bearer`, the same answer for a
missing, malformed, unknown or revoked key, so the answer says nothing about which keys exist.

Guessing is hopeless (256-bit secrets, compared in constant time), but each failure may cost a
store read: a client address that fails `AUTH_FAILURES_PER_MINUTE` times in a minute gets 429
until the minute is over. The count is per process (a replica's worth, not a global budget),
which is enough to keep one client from turning failures into MongoDB load.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from starlette.types import ASGIApp, Receive, Scope, Send

from docflow.common.envelope import error_response
from docflow.common.identity.authenticator import Authenticator
from docflow.common.identity.verifier import IdentityStoreUnavailable

PROTECTED_PREFIX = "/v1"
IDENTITY_STATE = "identity"
CHALLENGE = {"WWW-Authenticate": "Bearer"}
_MAX_TOKEN_CHARS = 8192  # a JWT with many claims fits; a megabyte of header is not hashed
_BEARER = "bearer "


def is_protected(path: str) -> bool:
    return path == PROTECTED_PREFIX or path.startswith(PROTECTED_PREFIX + "/")


def bearer_token(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            text = value.decode("latin-1")
            if len(text) > len(_BEARER) and text[: len(_BEARER)].lower() == _BEARER:
                token = text[len(_BEARER) :].strip()
                return token if 0 < len(token) <= _MAX_TOKEN_CHARS else None
            return None
    return None


@dataclass(slots=True)
class _Window:
    started: float
    failures: int


class FailureLimiter:
    """Failed authentications per client address in fixed one-minute windows (bounded)."""

    WINDOW_S = 60.0
    MAX_CLIENTS = 10_000

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._windows: dict[str, _Window] = {}

    def retry_after(self, client: str, now: float) -> int | None:
        """Seconds until `client` may try again, or None when it may now."""
        window = self._windows.get(client)
        if window is None or window.failures < self.per_minute:
            return None
        remaining = window.started + self.WINDOW_S - now
        if remaining <= 0:
            del self._windows[client]
            return None
        return max(1, math.ceil(remaining))

    def record(self, client: str, now: float) -> None:
        window = self._windows.get(client)
        if window is None or now - window.started >= self.WINDOW_S:
            if len(self._windows) >= self.MAX_CLIENTS:
                self._windows.clear()  # memory stays bounded; the windows restart
            self._windows[client] = _Window(now, 1)
        else:
            window.failures += 1


class AuthenticationMiddleware:
    def __init__(
        self, app: ASGIApp, *, authenticator: Authenticator, failures_per_minute: int
    ) -> None:
        self.app = app
        self.authenticator = authenticator
        self.failures = FailureLimiter(failures_per_minute)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_protected(scope["path"]):
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        address = client[0] if client else "unknown"
        now = time.monotonic()
        retry_after = self.failures.retry_after(address, now)
        if retry_after is not None:
            await _too_many_failures(retry_after)(scope, receive, send)
            return
        token = bearer_token(scope)
        try:
            identity = await self.authenticator.authenticate(token) if token else None
        except IdentityStoreUnavailable:
            response = error_response(
                503,
                "service_unavailable",
                "Credentials cannot be checked right now; try again shortly.",
                headers={"Retry-After": "1"},
            )
            await response(scope, receive, send)
            return
        if identity is None:
            self.failures.record(address, now)
            await _unauthorized(has_token=token is not None)(scope, receive, send)
            return
        state = scope.get("state")
        if state is None:
            state = scope["state"] = {}
        state[IDENTITY_STATE] = identity
        await self.app(scope, receive, send)


def _unauthorized(*, has_token: bool) -> ASGIApp:
    message = (
        "The API key is not valid."
        if has_token
        else "An API key is required: send the header 'Authorization: Bearer <key>'."
    )
    return error_response(401, "unauthorized", message, headers=CHALLENGE)


def _too_many_failures(retry_after: int) -> ASGIApp:
    return error_response(
        429,
        "rate_limited",
        f"Too many failed authentications; retry after {retry_after} s.",
        headers={"Retry-After": str(retry_after)},
    )

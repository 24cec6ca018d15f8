"""The cache-hit lane of `GET /v1/documents/{id}`: answered before FastAPI's router.

It sits innermost in the middleware stack, so the request id, security headers, access log,
metrics, CORS and the rate limit apply as to any request. A fresh cached document is answered
from its stored bytes with two ASGI messages; anything else (a miss, a stale or not-found entry,
an unusual query string, Redis down) goes on to the FastAPI route, which owns the OpenAPI
description, validation and the whole read-through logic.

Why: FastAPI's routing, exception and exit-stack layers cost about as much as everything else
on a cache hit together (profiled in tests/perf/bench_query.py; see the README).
"""

from __future__ import annotations

import re
import time
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from docflow.query.cache.readthrough import CachePolicy
from docflow.query.cache.responses import envelope_bytes, etag_matches
from docflow.query.cache.store import HIT, Cache

PREFIX = "/v1/documents/"
DOCUMENT_ID = re.compile(r"^[0-9A-Za-z_-]{1,64}$")
_WITH_CONTENT = {b"": True, b"include_content=true": True, b"include_content=false": False}
_JSON = (b"content-type", b"application/json")
_NO_CACHE = (b"cache-control", b"no-cache")


class CachedDocumentLane:
    def __init__(self, app: ASGIApp, *, route: Any) -> None:
        self.app = app
        self.route = route  # the FastAPI route it stands in for, for metrics and logs

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            path: str = scope["path"]
            if path.startswith(PREFIX) and await self._answer(scope, send, path[len(PREFIX) :]):
                return
        await self.app(scope, receive, send)

    async def _answer(self, scope: Scope, send: Send, document_id: str) -> bool:
        with_content = _WITH_CONTENT.get(scope["query_string"])
        if with_content is None or DOCUMENT_ID.match(document_id) is None:
            return False
        state = scope["app"].state
        policy: CachePolicy = state.cache_policy
        if policy.document.fresh_s <= 0:
            return False
        cache: Cache = state.cache
        entry = await cache.get(cache.keys.document(document_id, with_content=with_content))
        if entry is None or not entry.found or not entry.is_fresh(time.time()):
            return False
        HIT.inc()
        scope["route"] = self.route
        if_none_match = _header(scope, b"if-none-match")
        if if_none_match is not None and etag_matches(if_none_match, entry.etag.decode()):
            await send(
                {
                    "type": "http.response.start",
                    "status": 304,
                    "headers": [(b"etag", entry.etag), _NO_CACHE],
                }
            )
            await send({"type": "http.response.body", "body": b""})
            return True
        body = envelope_bytes(entry.data)
        headers = [
            (b"content-length", b"%d" % len(body)),
            _JSON,
            (b"etag", entry.etag),
            _NO_CACHE,
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        return True


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value).decode("latin-1")
    return None

"""Fresh cache hits of `GET /v1/documents/{document_id}`, answered before FastAPI's router.

Installed with `docflow.common.lanes.install_lane` (see there for what a lane is). A fresh
cached entry is answered by the rules the route uses too (lookup.py); anything else (a miss, a
stale entry, caching off, Redis down) goes on to the FastAPI route, which owns the OpenAPI
description and the whole read-through logic.

Why: FastAPI's routing, exception and exit-stack layers cost about as much as everything else
on a cache hit together (profiled in tests/perf/bench_query.py; see the README).
"""

from __future__ import annotations

import time

from starlette.responses import Response
from starlette.types import Receive, Scope

from docflow.query.cache.store import HIT
from docflow.query.deps import services_of
from docflow.query.documents.lookup import document_read, document_response

METHOD, PATH = "GET", "/v1/documents/{document_id}"


async def answer(scope: Scope, receive: Receive) -> Response | None:
    services = services_of(scope["app"])
    if services.cache_policy.document.fresh_s <= 0:
        return None
    read = document_read(scope["path_params"]["document_id"], scope)
    cache = services.cache
    entry = await cache.get(read.cache_key(cache.keys))
    if entry is None or not entry.is_fresh(time.time()):
        return None
    HIT.inc()
    return document_response(entry, read)

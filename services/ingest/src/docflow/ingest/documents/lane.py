"""`POST /v1/documents` without an Idempotency-Key, answered before FastAPI's router.

Installed with `docflow.common.lanes.install_lane` (see there for what a lane is); it calls
the same `submit_document` as the FastAPI route, so the answers (errors included) are the
same. A request with an Idempotency-Key goes on to the route, which also owns the OpenAPI
description of the endpoint.

Why: with the service's twenty-odd routes, FastAPI's route matching, exception, exit-stack and
request layers cost more CPU than storing and queueing the document (profiled with py-spy
under tests/perf/bench_ingest.py; see the README).
"""

from __future__ import annotations

from starlette.responses import Response
from starlette.types import Receive, Scope

from docflow.ingest.deps import services_of
from docflow.ingest.documents.submission import submit_document

METHOD, PATH = "POST", "/v1/documents"
_IDEMPOTENCY_KEY = b"idempotency-key"


async def answer(scope: Scope, receive: Receive) -> Response | None:
    if any(name == _IDEMPOTENCY_KEY for name, _ in scope["headers"]):
        return None  # the route replays or records it
    services = services_of(scope["app"])
    return await submit_document(scope, receive, services=services, idempotency_key=None)

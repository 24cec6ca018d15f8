"""`POST /v1/documents` without an Idempotency-Key, answered before FastAPI's router.

It sits innermost in the middleware stack, so the request id, security headers, access log,
metrics, CORS and the rate limit apply as to any request, and it calls the same
`submit_document` as the FastAPI route, so the answers (errors included) are the same. A
request with an Idempotency-Key, or to any other path, goes on to FastAPI, which also owns the
OpenAPI description of the endpoint.

Why: with the service's twenty-odd routes, FastAPI's route matching, exception, exit-stack and
request layers cost more CPU than storing and queueing the document (profiled with py-spy
under tests/perf/bench_ingest.py; see the README).
"""

from __future__ import annotations

from typing import Any

from fastapi.exceptions import RequestValidationError
from starlette.requests import ClientDisconnect
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from docflow.common.errors import DocflowError, render_docflow_error, render_validation_error
from docflow.ingest.bodylimit import read_bounded_body
from docflow.ingest.documents.router import submit_document
from docflow.ingest.settings import IngestSettings

PATH = "/v1/documents"
_IDEMPOTENCY_KEY = b"idempotency-key"


class PlainDocumentLane:
    def __init__(self, app: ASGIApp, *, route: Any) -> None:
        self.app = app
        self.route = route  # the FastAPI route it stands in for, for metrics and logs

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["path"] == PATH
            and scope["method"] == "POST"
            and not any(name == _IDEMPOTENCY_KEY for name, _ in scope["headers"])
        ):
            await self._answer(scope, receive, send)
            return
        await self.app(scope, receive, send)

    async def _answer(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["route"] = self.route
        state = scope["app"].state
        settings: IngestSettings = state.settings
        response: Response
        try:
            body = await read_bounded_body(scope, receive, settings.max_json_body_bytes)
            response = await submit_document(state, body, None)
        except DocflowError as exc:
            response = render_docflow_error(exc)
        except RequestValidationError as exc:
            response = render_validation_error(exc)
        except ClientDisconnect:
            return  # nobody is left to answer; nothing was stored
        await response(scope, receive, send)

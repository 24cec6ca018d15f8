"""The whole of `POST /v1/documents`, shared by its FastAPI route and its lane (lane.py).

The busiest endpoint reads its own (size-capped) body, parses it and reads its services
directly: FastAPI's dependency and body resolution cost more CPU than the ingestion itself
(measured with tests/perf/bench_ingest.py). The errors are FastAPI's: 400 for broken JSON and
422 for a schema failure, both raised as `RequestValidationError`.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.responses import Response
from starlette.types import Receive, Scope

from docflow.common.events import IncomingDocument
from docflow.ingest.bodylimit import read_bounded_body
from docflow.ingest.deps import IngestServices
from docflow.ingest.documents.idempotency import fingerprint, respond_idempotently
from docflow.ingest.documents.service import ingest_document
from docflow.ingest.documents.shapes import check_metadata_size, too_many_fields
from docflow.ingest.documents.tenancy import request_tenant
from docflow.ingest.settings import IngestSettings


async def submit_document(
    scope: Scope, receive: Receive, *, services: IngestServices, idempotency_key: str | None
) -> Response:
    """Read the body (at most `max_json_body_bytes`), store the document under the caller's
    tenant, answer 202 or 200."""
    settings = services.settings
    body = await read_bounded_body(scope, receive, settings.max_json_body_bytes)
    document = parse_document(body, settings=settings)
    tenant_id = request_tenant(scope, document.tenant_id)

    async def action() -> tuple[int, Any]:
        outcome = await ingest_document(
            document=document,
            tenant_id=tenant_id,
            origin="api",
            settings=settings,
            store=services.store,
            quota=services.quota,
        )
        return outcome.status_code, outcome.as_data()

    return await respond_idempotently(
        store=services.idempotency,
        key=idempotency_key,
        tenant_id=tenant_id,
        body_fingerprint=fingerprint(document.model_dump(mode="json")) if idempotency_key else "",
        action=action,
    )


def parse_document(body: bytes, *, settings: IngestSettings) -> IncomingDocument:
    """Validate a JSON body as FastAPI would: 400 for broken JSON, 422 for a schema failure.

    orjson parses first (faster than pydantic's own JSON parsing for ordinary bodies), so that
    costly shapes are refused before validation (shapes.py); what orjson refuses goes to
    pydantic, whose JSON errors are the answer FastAPI gives."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        payload = _UNPARSED
    try:
        if payload is _UNPARSED:
            return IncomingDocument.model_validate_json(body)
        if isinstance(payload, dict):
            if refused := too_many_fields(payload, loc=("body",)):
                raise RequestValidationError(refused)
            check_metadata_size(payload, settings=settings)
        return IncomingDocument.model_validate(payload)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False)
        for error in errors:
            error["loc"] = ("body", *error["loc"])
        raise RequestValidationError(errors) from None


_UNPARSED = object()

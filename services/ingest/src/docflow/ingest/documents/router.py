"""`POST /v1/documents` and `POST /v1/documents/batch`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from starlette.responses import Response

from docflow.common.envelope import APIResponse, error_responses
from docflow.common.events import IncomingDocument
from docflow.common.identity import TenantDep
from docflow.ingest.bodylimit import bounded_body_route
from docflow.ingest.deps import IdempotencyDep, QuotaDep, SettingsDep, StoreDep, services_of
from docflow.ingest.documents.batch import ingest_batch
from docflow.ingest.documents.idempotency import (
    IDEMPOTENCY_HEADER,
    fingerprint,
    respond_idempotently,
)
from docflow.ingest.documents.schemas import (
    INCOMING_EXAMPLE,
    BatchResult,
    IngestResult,
    RawBatchRequest,
)
from docflow.ingest.documents.submission import submit_document
from docflow.ingest.errors import BatchTooLarge, InvalidBody
from docflow.ingest.openapi import IDEMPOTENCY_KEY_SCHEMA, schema_ref

# submission.py reads and caps the body of `POST /v1/documents` itself.
router = APIRouter(prefix="/v1/documents", tags=["documents"])
batch_router = APIRouter(
    prefix="/v1/documents",
    tags=["documents"],
    route_class=bounded_body_route(lambda settings: settings.max_batch_body_bytes),
)

_IDEMPOTENCY_PARAMETER = {
    "name": IDEMPOTENCY_HEADER,
    "in": "header",
    "required": False,
    "schema": IDEMPOTENCY_KEY_SCHEMA,
    "description": "Replays the first successful response for 24 hours (1-255 ASCII chars).",
}
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description="Replays the first successful response for 24 hours (1-255 ASCII chars).",
    ),
]

_DUPLICATE = {
    "model": APIResponse[IngestResult],
    "description": "The tenant already has this content: the existing id, `duplicate: true`.",
}
TENANT_RULE = (
    "The document is stored under the API key's tenant. `tenant_id` may be left out; a value "
    "other than the key's tenant is refused with 403 `tenant_mismatch`."
)
QUOTA_RULE = (
    "Each new document counts against the tenant's `TENANT_DOCUMENTS_PER_DAY` (UTC days; "
    "duplicates are free): past it, 429 `tenant_quota_exceeded` with `Retry-After` until "
    "midnight UTC."
)
_SUBMIT_DESCRIPTION = (
    "Store a document once per tenant and content, then queue it for analysis.\n\n"
    f"{TENANT_RULE} {QUOTA_RULE}"
)
_BATCH_DESCRIPTION = (
    "Ingest each item on its own; one result per item, in order, bad items included.\n\n"
    f"{TENANT_RULE} {QUOTA_RULE} In a batch both are the item's own error (`status` 403 or "
    "429); the other items go on."
)
_EXAMPLES: dict[str, Any] = {
    "plain": {"summary": "A plain-text document", "value": INCOMING_EXAMPLE},
    "html": {
        "summary": "HTML (converted to text, markup stripped)",
        "value": {"content": "<h1>Launch</h1><p>We shipped!</p>", "content_type": "text/html"},
    },
}


@router.post(
    "",
    status_code=202,
    response_model=APIResponse[IngestResult],
    responses={200: _DUPLICATE, **error_responses(400, 403, 409, 413, 422, 429, 503)},
    summary="Submit one document",
    description=_SUBMIT_DESCRIPTION,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": schema_ref(IncomingDocument), "examples": _EXAMPLES}
            },
        },
        "parameters": [_IDEMPOTENCY_PARAMETER],
    },
)
async def create_document(request: Request) -> Response:
    """Store a document once per tenant and content, then queue it for analysis."""
    # Requests without an Idempotency-Key are answered by lane.py before FastAPI's router;
    # both call `submit_document`, so the answers are the same either way.
    return await submit_document(
        request.scope,
        request.receive,
        services=services_of(request.app),
        idempotency_key=request.headers.get(IDEMPOTENCY_HEADER),
    )


@batch_router.post(
    "/batch",
    status_code=202,
    response_model=APIResponse[BatchResult],
    responses=error_responses(400, 409, 413, 422, 429),
    summary="Submit up to 100 documents",
    description=_BATCH_DESCRIPTION,
)
async def create_documents_batch(
    batch: RawBatchRequest,
    tenant_id: TenantDep,
    settings: SettingsDep,
    store: StoreDep,
    quota: QuotaDep,
    idempotency: IdempotencyDep,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Ingest each item on its own; one result per item, in order, bad items included."""
    if not batch.documents:
        raise InvalidBody("The batch holds no documents.", code="empty_batch")
    if len(batch.documents) > settings.max_batch_items:
        raise BatchTooLarge(
            f"The batch holds {len(batch.documents)} documents; "
            f"the limit is {settings.max_batch_items}.",
            details={"max_items": settings.max_batch_items},
        )

    async def action() -> tuple[int, Any]:
        result = await ingest_batch(
            batch.documents, tenant_id=tenant_id, settings=settings, store=store, quota=quota
        )
        return 202, result

    return await respond_idempotently(
        store=idempotency,
        key=idempotency_key,
        tenant_id=tenant_id,
        body_fingerprint=fingerprint(batch.documents) if idempotency_key else "",
        action=action,
    )

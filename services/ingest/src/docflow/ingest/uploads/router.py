"""`POST /v1/documents/upload`."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from docflow.common.envelope import APIResponse, error_responses
from docflow.common.identity import TenantDep
from docflow.common.ratelimit import RateLimits, rate_limit_client
from docflow.ingest.deps import (
    ExtractorDep,
    IdempotencyDep,
    QuotaDep,
    SettingsDep,
    StoreDep,
    UploadSlotsDep,
)
from docflow.ingest.documents.idempotency import respond_idempotently
from docflow.ingest.documents.router import QUOTA_RULE, TENANT_RULE, IdempotencyKey
from docflow.ingest.documents.schemas import IngestResult
from docflow.ingest.documents.tenancy import check_claim
from docflow.ingest.settings import IngestSettings
from docflow.ingest.uploads.reader import read_upload
from docflow.ingest.uploads.service import ingest_upload, upload_fingerprint

router = APIRouter(prefix="/v1/documents", tags=["documents"])

_MULTIPART_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    # reader.py refuses any other field (400 `invalid_multipart`).
                    "additionalProperties": False,
                    "properties": {
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": "A .txt, .md, .html, .pdf or .docx file (10 MiB max).",
                        },
                        "title": {"type": "string", "description": "Defaults to the file name."},
                        "source": {"type": "string"},
                        "external_id": {"type": "string"},
                        "tenant_id": {
                            "type": "string",
                            "description": "Optional; if sent, the API key's tenant (else 403).",
                        },
                    },
                }
            }
        },
    }
}
_DUPLICATE = {
    "model": APIResponse[IngestResult],
    "description": "The tenant already has this text: the existing id, `duplicate: true`.",
}


_DESCRIPTION = (
    "Upload a txt, md, html, pdf or docx file; its text is extracted and ingested.\n\n"
    f"{TENANT_RULE} {QUOTA_RULE} At most `UPLOADS_PER_TENANT` uploads of a tenant run at once "
    "(per replica); one more is refused at once with 429 `too_many_uploads`."
)


def enforce_upload_rate(request: Request, settings: IngestSettings) -> None:
    """Uploads cost a parse each: a tighter per-client limit on top of the default one."""
    rate_limits: RateLimits | None = getattr(request.app.state, "rate_limits", None)
    if rate_limits is not None:
        rate_limits.hit("upload", settings.rate_limit_upload, rate_limit_client(request.scope))


@router.post(
    "/upload",
    status_code=202,
    response_model=APIResponse[IngestResult],
    responses={200: _DUPLICATE, **error_responses(400, 403, 409, 413, 415, 422, 429, 503)},
    openapi_extra=_MULTIPART_BODY,
    summary="Upload a file",
    description=_DESCRIPTION,
)
async def upload_document(
    request: Request,
    tenant_id: TenantDep,
    settings: SettingsDep,
    extractor: ExtractorDep,
    store: StoreDep,
    quota: QuotaDep,
    slots: UploadSlotsDep,
    idempotency: IdempotencyDep,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Upload a txt, md, html, pdf or docx file; its text is extracted and ingested."""
    enforce_upload_rate(request, settings)
    # Held from before the body is read until the answer: reading and parsing are the cost.
    with slots.hold(tenant_id):
        form = await read_upload(request, max_file_bytes=settings.max_upload_bytes)
        check_claim(tenant_id, form.fields.get("tenant_id"))

        async def action() -> tuple[int, Any]:
            outcome = await ingest_upload(
                form=form,
                tenant_id=tenant_id,
                settings=settings,
                extractor=extractor,
                store=store,
                quota=quota,
            )
            return outcome.status_code, outcome.as_data()

        return await respond_idempotently(
            store=idempotency,
            key=idempotency_key,
            tenant_id=tenant_id,
            body_fingerprint=upload_fingerprint(form) if idempotency_key else "",
            action=action,
        )

"""A batch of JSON documents: each item validated and ingested on its own, results in order."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from pydantic import ValidationError

from docflow.common.errors import DocflowError
from docflow.common.events import IncomingDocument
from docflow.ingest.documents.quota import TenantQuota
from docflow.ingest.documents.service import ingest_document
from docflow.ingest.documents.shapes import check_metadata_size, too_many_fields
from docflow.ingest.documents.store import DocumentStore
from docflow.ingest.documents.tenancy import check_claim
from docflow.ingest.settings import IngestSettings

logger = logging.getLogger(__name__)

# Items of one batch run concurrently, but not all 100 at once against the connection pools.
_ITEM_CONCURRENCY = 16


def validation_details(exc: ValidationError) -> list[dict[str, Any]]:
    # The input is left out on purpose: it may be megabytes of text.
    return [
        {"loc": [str(part) for part in error["loc"]], "msg": error["msg"], "type": error["type"]}
        for error in exc.errors(include_input=False, include_url=False)
    ]


def _failed(index: int, *, code: str, message: str, status: int, details: Any) -> dict[str, Any]:
    error = {"code": code, "message": message, "status": status, "details": details}
    return {"index": index, "success": False, "error": error}


def _invalid(index: int, details: list[dict[str, Any]]) -> dict[str, Any]:
    return _failed(
        index,
        code="validation_error",
        message="The document is invalid.",
        status=422,
        details=details,
    )


async def ingest_item(
    index: int,
    raw: Any,
    *,
    tenant_id: str,
    settings: IngestSettings,
    store: DocumentStore,
    quota: TenantQuota,
) -> dict[str, Any]:
    if isinstance(raw, dict) and (errors := too_many_fields(raw)):
        return _invalid(index, [{**error, "loc": list(error["loc"])} for error in errors])
    try:
        if isinstance(raw, dict):
            check_metadata_size(raw, settings=settings)
        document = IncomingDocument.model_validate(raw)
    except DocflowError as exc:
        return _failed(
            index, code=exc.code, message=exc.message, status=exc.status_code, details=exc.details
        )
    except ValidationError as exc:
        return _invalid(index, validation_details(exc))
    try:
        check_claim(tenant_id, document.tenant_id)
        outcome = await ingest_document(
            document=document,
            tenant_id=tenant_id,
            origin="api",
            settings=settings,
            store=store,
            quota=quota,
        )
    except DocflowError as exc:
        return _failed(
            index, code=exc.code, message=exc.message, status=exc.status_code, details=exc.details
        )
    except Exception:
        logger.exception("batch item failed", extra={"index": index})
        return _failed(
            index,
            code="internal_error",
            message=DocflowError.default_message,
            status=500,
            details=None,
        )
    return {"index": index, "success": True, **outcome.as_data()}


async def ingest_batch(
    items: list[Any],
    *,
    tenant_id: str,
    settings: IngestSettings,
    store: DocumentStore,
    quota: TenantQuota,
) -> dict[str, Any]:
    """Every item under the caller's `tenant_id`; an item naming another tenant is refused."""
    gate = asyncio.Semaphore(_ITEM_CONCURRENCY)

    async def bounded(index: int, raw: Any) -> dict[str, Any]:
        async with gate:
            return await ingest_item(
                index, raw, tenant_id=tenant_id, settings=settings, store=store, quota=quota
            )

    results = await asyncio.gather(*(bounded(i, raw) for i, raw in enumerate(items)))
    accepted = sum(1 for result in results if result["success"])
    return {"accepted": accepted, "rejected": len(results) - accepted, "items": results}

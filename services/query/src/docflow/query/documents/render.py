"""Stored documents to the served JSON bytes, rendered once per cache fill."""

from __future__ import annotations

import logging
from typing import Any

import orjson
from pydantic import ValidationError

from docflow.common.documents import Analysis
from docflow.query.documents.cursor import encode_cursor
from docflow.query.documents.repository import StoredDocument

logger = logging.getLogger(__name__)

# Times as RFC 3339 with `Z`, like pydantic renders them; anything exotic as its string.
_JSON_OPTIONS = orjson.OPT_UTC_Z


def dumps(value: Any) -> bytes:
    return orjson.dumps(value, option=_JSON_OPTIONS, default=str)


def served_document(stored: StoredDocument) -> dict[str, Any]:
    served: dict[str, Any] = {
        "id": stored["_id"],
        # Always present: the repository reads within a tenant (`{_id, tenant_id}`), so a
        # stored document without the field is never served.
        "tenant_id": stored["tenant_id"],
        "title": stored.get("title"),
        "source": stored.get("source"),
        "external_id": stored.get("external_id"),
        "content_type": stored.get("content_type", "text/plain"),
        "metadata": stored.get("metadata"),
        "status": stored.get("status"),
        "created_at": stored.get("created_at"),
        "updated_at": stored.get("updated_at"),
    }
    if "content" in stored:
        served["content"] = stored["content"]
    served["analysis"] = _analysis(stored.get("analysis"), document_id=stored["_id"])
    served["error"] = stored.get("error")
    return served


def _analysis(stored: Any, *, document_id: str) -> Any:
    """The contract's Analysis shape; a stored one that does not fit is served as it is."""
    if stored is None:
        return None
    try:
        return Analysis.model_validate(stored).model_dump()
    except ValidationError:
        logger.warning(
            "stored analysis does not match the model", extra={"document_id": document_id}
        )
        return stored


def render_document(stored: StoredDocument) -> bytes:
    return dumps(served_document(stored))


def render_page(stored: list[StoredDocument], *, limit: int) -> bytes:
    """A page of at most `limit` items; `stored` holds one more when a next page exists."""
    items = stored[:limit]
    next_cursor = None
    if len(stored) > limit and items:
        last = items[-1]
        next_cursor = encode_cursor(created_at=last["created_at"], document_id=last["_id"])
    return dumps({"items": [served_document(doc) for doc in items], "next_cursor": next_cursor})

"""`GET /v1/documents/{id}` and `GET /v1/documents`.

Both return a raw `Response` built from cached bytes: `response_model` is declared for the
OpenAPI page only, and nothing is validated or re-encoded on the way out.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from pydantic import BeforeValidator
from starlette.responses import Response

from docflow.common.documents import DocumentStatus, SentimentLabel
from docflow.common.envelope import APIResponse, error_responses
from docflow.common.identity import TenantDep
from docflow.query.cache.responses import NOT_MODIFIED, cached_response
from docflow.query.deps import CacheDep, DocumentsDep, PolicyDep, SettingsDep, services_of
from docflow.query.documents import service
from docflow.query.documents.filters import build_list_query
from docflow.query.documents.lookup import document_read, document_response
from docflow.query.documents.schemas import DocumentOut, DocumentPage
from docflow.query.routing import QueryRoute

router = APIRouter(prefix="/v1", tags=["documents"], route_class=QueryRoute)

# A filter of only whitespace would match nothing; filters.py refuses it (422 invalid_filter).
_NOT_BLANK = r"\S"
# An RFC 3339 date-time, the offset optional (UTC then). Pydantic alone would also read "0.5"
# or "1700000000" as seconds since the epoch, a form the document does not declare.
_RFC3339 = r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}:?\d{2})?$"


def _rfc3339_only(value: object) -> object:
    if isinstance(value, str) and re.fullmatch(_RFC3339, value) is None:
        raise ValueError("expected an RFC 3339 date-time, e.g. 2026-01-31T12:00:00Z")
    return value


Moment = Annotated[datetime | None, BeforeValidator(_rfc3339_only)]
_MOMENT_SCHEMA = {"pattern": _RFC3339}

IfNoneMatch = Annotated[
    str | None,
    Header(description="An ETag from an earlier answer: 304 without a body if unchanged."),
]


# The hot path. Its inputs are read from the request by hand and documented through
# `openapi_extra`: FastAPI's per-request dependency and parameter solving cost more than the
# whole cache hit (measured in tests/perf/bench_query.py; see the README).
_GET_DOCUMENT_PARAMETERS = [
    {
        "name": "include_content",
        "in": "query",
        "required": False,
        "schema": {"type": "boolean", "default": True},
        "description": "Include the full text (it can be large).",
    },
    {
        "name": "If-None-Match",
        "in": "header",
        "required": False,
        "schema": {"type": "string"},
        "description": "An ETag from an earlier answer: 304 without a body if unchanged.",
    },
]


@router.get(
    "/documents/{document_id}",
    response_model=APIResponse[DocumentOut],
    responses=NOT_MODIFIED | error_responses(404, 422, 429, 503),
    openapi_extra={"parameters": _GET_DOCUMENT_PARAMETERS},
)
async def get_document(document_id: str, request: Request) -> Response:
    """One of the caller's documents, its status and, once analyzed, its analysis."""
    # Fresh cache hits are answered by lane.py before FastAPI's router; both follow lookup.py.
    read = document_read(document_id, request.scope)
    services = services_of(request.app)
    entry = await service.get_document(
        cache=services.cache,
        repository=services.documents,
        policy=services.cache_policy,
        read=read,
    )
    return document_response(entry, read)


@router.get(
    "/documents",
    response_model=APIResponse[DocumentPage],
    responses=NOT_MODIFIED | error_responses(400, 422, 429, 503),
)
async def list_documents(
    cache: CacheDep,
    documents: DocumentsDep,
    policy: PolicyDep,
    settings: SettingsDep,
    tenant: TenantDep,
    status: DocumentStatus | None = None,
    sentiment: SentimentLabel | None = None,
    language: Annotated[
        str | None, Query(pattern=r"^([A-Za-z]{2}|und)$", description="ISO 639-1 code.")
    ] = None,
    keyword: Annotated[
        str | None,
        Query(max_length=100, pattern=_NOT_BLANK, description="One whole keyword of the analysis."),
    ] = None,
    source: Annotated[str | None, Query(max_length=200, pattern=_NOT_BLANK)] = None,
    created_after: Annotated[
        Moment,
        Query(
            description="Inclusive; RFC 3339, UTC when no offset.",
            json_schema_extra=_MOMENT_SCHEMA,
        ),
    ] = None,
    created_before: Annotated[
        Moment, Query(description="Exclusive.", json_schema_extra=_MOMENT_SCHEMA)
    ] = None,
    limit: Annotated[
        int | None,
        Query(
            description="1 to LIST_MAX_LIMIT (100 by default); 20 by default.",
            # Declared only: build_list_query checks it against the setting in force.
            json_schema_extra={"minimum": 1, "maximum": 100},
        ),
    ] = None,
    cursor: Annotated[
        str | None, Query(max_length=128, description="`next_cursor` of the previous page.")
    ] = None,
    if_none_match: IfNoneMatch = None,
) -> Response:
    """The caller's documents newest first, filtered, one page at a time."""
    query = build_list_query(
        limit=limit if limit is not None else settings.list_default_limit,
        max_limit=settings.list_max_limit,
        status=status,
        sentiment=sentiment,
        language=language,
        keyword=keyword,
        source=source,
        created_after=created_after,
        created_before=created_before,
        cursor=cursor,
    )
    entry = await service.list_documents(
        cache=cache, repository=documents, policy=policy, tenant=tenant, query=query
    )
    return cached_response(entry, if_none_match=if_none_match)

"""The rules of `GET /v1/documents/{document_id}`, shared by its route and its lane (lane.py).

What the request asks for (the caller's tenant, the id, `include_content`, If-None-Match),
under which cache key its answer lives, and how an entry is answered (404, or responses.py's
200/304 with its ETag) are decided here only, so the lane and the route cannot drift apart.
The tenant is part of the key: another tenant's cached document is a miss, and MongoDB then
finds nothing either, so the caller gets the 404 of an unknown id.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from starlette.datastructures import QueryParams
from starlette.responses import Response
from starlette.types import Scope

from docflow.common.identity import identity_of
from docflow.query.cache.entries import Entry
from docflow.query.cache.responses import cached_response
from docflow.query.cache.store import CacheKeys
from docflow.query.errors import DocumentNotFound, InvalidFilter

DOCUMENT_ID = re.compile(r"^[0-9A-Za-z_-]{1,64}$")
_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})
# What clients send nearly always, decided without parsing the query string.
_USUAL_QUERIES = {b"": True, b"include_content=true": True, b"include_content=false": False}


@dataclass(frozen=True, slots=True)
class DocumentRead:
    tenant: str
    document_id: str
    with_content: bool
    if_none_match: str | None

    def cache_key(self, keys: CacheKeys) -> str:
        return keys.document(self.tenant, self.document_id, with_content=self.with_content)


def document_read(document_id: str, scope: Scope) -> DocumentRead:
    """The request's inputs; no identity is a 401, an id that cannot exist a 404, a bad flag
    a 422."""
    tenant = identity_of(scope).tenant
    if DOCUMENT_ID.match(document_id) is None:
        raise DocumentNotFound(f"No document has the id {document_id[:64]}.")
    return DocumentRead(
        tenant=tenant,
        document_id=document_id,
        with_content=include_content(scope["query_string"]),
        if_none_match=_header(scope, b"if-none-match"),
    )


def include_content(query_string: bytes) -> bool:
    usual = _USUAL_QUERIES.get(query_string)
    if usual is not None:
        return usual
    value = QueryParams(query_string).get("include_content")
    if value is None or value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise InvalidFilter(
        "include_content must be true or false.", details={"field": "include_content"}
    )


def document_response(entry: Entry, read: DocumentRead) -> Response:
    if not entry.found:
        raise DocumentNotFound(f"No document has the id {read.document_id}.")
    return cached_response(entry, if_none_match=read.if_none_match)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value).decode("latin-1")
    return None

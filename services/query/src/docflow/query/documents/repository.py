"""Every MongoDB query the documents endpoints make (docflow.common.indexes serves them).

Every query is within one tenant: a document of another tenant is not found, and a page
holds none. A stored document without `tenant_id` matches no tenant: ingest has written the
field on every document since its first release (its unique index is on it), so only a
document written by hand lacks it.

Only operators both FerretDB v1 and MongoDB accept: equality, `$in`, ranges, `$or`/`$and`,
inclusion projections, `sort` and `limit`.
"""

from __future__ import annotations

from typing import Any

from pymongo.asynchronous.collection import AsyncCollection

from docflow.common.indexes import NEWEST_FIRST
from docflow.query.documents.filters import ListQuery
from docflow.query.errors import database_errors

StoredDocument = dict[str, Any]

# What the API serves; internal fields (content_hash, origin, published) stay inside.
_SERVED_FIELDS = (
    "tenant_id",
    "title",
    "source",
    "external_id",
    "content_type",
    "metadata",
    "status",
    "created_at",
    "updated_at",
    "analysis",
    "error",
)
_BRIEF = dict.fromkeys(_SERVED_FIELDS, 1)
_FULL = {**_BRIEF, "content": 1}


class DocumentRepository:
    def __init__(self, collection: AsyncCollection[StoredDocument]) -> None:
        self.collection = collection

    async def find(
        self, document_id: str, *, tenant: str, with_content: bool
    ) -> StoredDocument | None:
        async with database_errors():
            return await self.collection.find_one(
                {"_id": document_id, "tenant_id": tenant}, _FULL if with_content else _BRIEF
            )

    async def find_page(self, query: ListQuery, *, tenant: str) -> list[StoredDocument]:
        """Up to `limit + 1` documents: the extra one tells whether a next page exists."""
        async with database_errors():
            cursor = (
                self.collection.find(match_list_query(query, tenant=tenant), _BRIEF)
                .sort(NEWEST_FIRST)
                .limit(query.limit + 1)
            )
            return await cursor.to_list()


def match_list_query(query: ListQuery, *, tenant: str) -> dict[str, Any]:
    """The MongoDB filter for a list query of `tenant`; `created_after` is inclusive,
    `created_before` not."""
    clauses: list[dict[str, Any]] = [{"tenant_id": tenant}]
    if query.status is not None:
        clauses.append({"status": query.status.value})
    if query.sentiment is not None:
        clauses.append({"analysis.sentiment.label": query.sentiment})
    if query.language is not None:
        clauses.append({"analysis.language": query.language})
    if query.keyword is not None:
        clauses.append({"analysis.keywords": {"$in": keyword_spellings(query.keyword)}})
    if query.source is not None:
        clauses.append({"source": query.source})
    created: dict[str, Any] = {}
    if query.created_after is not None:
        created["$gte"] = query.created_after
    if query.created_before is not None:
        created["$lt"] = query.created_before
    if created:
        clauses.append({"created_at": created})
    if query.cursor is not None:
        # After the cursor: created earlier, or at the same time with a smaller id. The
        # `$lte` bound lets the index seek to the cursor instead of walking the pages before.
        last = query.cursor
        clauses.append({"created_at": {"$lte": last.created_at}})
        clauses.append(
            {"$or": [{"created_at": {"$lt": last.created_at}}, {"_id": {"$lt": last.document_id}}]}
        )
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


def keyword_spellings(keyword: str) -> list[str]:
    """The usual spellings of a keyword: as given, lower, upper, capitalized and title case.

    Keywords are stored as the analyzer wrote them ("Acme", "record revenue"). An `$in` over
    these spellings finds them whatever the case the client typed, and an index on
    `analysis.keywords` serves it; a case-insensitive `$regex` could not use the index.
    """
    variants = (keyword, keyword.lower(), keyword.upper(), keyword.capitalize(), keyword.title())
    return sorted(set(variants))

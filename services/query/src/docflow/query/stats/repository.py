"""The counts behind `GET /v1/stats`: one indexed count per status, label and language.

Everything is counted within the caller's tenant. Every count is a `count` command whose
filter is the tenant and at most one more equality, on an index that leads with the tenant,
and the languages are read off the tenant's language index: MongoDB answers each from its
index, and so does the patched FerretDB (deploy/local/ferretdb/), with `SELECT COUNT(*)` on
an index range. Nothing reads the documents themselves, so a cache miss costs a few index
walks, not a pass over the collection. The counts run concurrently; they are each exact,
though not one snapshot (a document analyzed meanwhile may be counted as queued and as
positive).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, get_args

from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection

from docflow.common.documents import DocumentStatus, SentimentLabel
from docflow.query.errors import database_errors

TENANT = "tenant_id"
STATUS = "status"
SENTIMENT = "analysis.sentiment.label"
LANGUAGE = "analysis.language"
# ISO 639-1 has 184 codes, plus `und`; a bound keeps a corrupted field from looping long.
_MAX_LANGUAGES = 200


@dataclass(frozen=True, slots=True)
class Counts:
    total: int
    by_status: dict[str, int]
    by_sentiment: dict[str, int]
    by_language: dict[str, int]


class StatsRepository:
    def __init__(self, collection: AsyncCollection[dict[str, Any]]) -> None:
        self.collection = collection

    async def counts(self, *, tenant: str) -> Counts:
        async with database_errors():
            languages = await self._languages(tenant)
            facets = [
                *((STATUS, status.value) for status in DocumentStatus),
                *((SENTIMENT, label) for label in get_args(SentimentLabel)),
                *((LANGUAGE, language) for language in languages),
            ]
            total, *counts = await asyncio.gather(
                self._count({TENANT: tenant}),
                *(self._count({TENANT: tenant, field: value}) for field, value in facets),
            )
        by_field: dict[str, dict[str, int]] = {STATUS: {}, SENTIMENT: {}, LANGUAGE: {}}
        for (field, value), count in zip(facets, counts, strict=True):
            by_field[field][value] = count
        return Counts(
            total=total,
            by_status=by_field[STATUS],
            by_sentiment=by_field[SENTIMENT],
            by_language=by_field[LANGUAGE],
        )

    async def _languages(self, tenant: str) -> list[str]:
        """The tenant's languages, read off its language index one seek per language (a loose
        index scan): the same few lookups on every engine, and `distinct` is refused by an
        unpatched FerretDB whenever the driver sends a time limit."""
        languages: list[str] = []
        while len(languages) < _MAX_LANGUAGES:
            after = {"$gt": languages[-1]} if languages else {"$gte": ""}  # every string
            found = await self.collection.find_one(
                {TENANT: tenant, LANGUAGE: after},
                {LANGUAGE: 1, "_id": 0},
                sort=[(LANGUAGE, ASCENDING)],
            )
            language = (found or {}).get("analysis", {}).get("language")
            if not isinstance(language, str):
                break
            languages.append(language)
        return languages

    async def _count(self, query: dict[str, Any]) -> int:
        # The `count` command, not count_documents: the latter is an aggregation ($match,
        # $group) that FerretDB answers by reading every matching document.
        reply = await self.collection.database.command(
            {"count": self.collection.name, "query": query}
        )
        return int(reply["n"])

"""The counts behind `GET /v1/stats`: one `$group` pass over the documents.

Grouping by the three fields at once reads the collection once instead of three times
(FerretDB scans for every aggregation); the per-field counts are summed up in Python.
"""

from __future__ import annotations

from typing import Any

from pymongo.asynchronous.collection import AsyncCollection

from docflow.query.errors import database_errors

_GROUP_BY_FACETS = [
    {
        "$group": {
            "_id": {
                "status": "$status",
                "sentiment": "$analysis.sentiment.label",
                "language": "$analysis.language",
            },
            "count": {"$sum": 1},
        }
    }
]


class StatsRepository:
    def __init__(self, collection: AsyncCollection[dict[str, Any]]) -> None:
        self.collection = collection

    async def facet_counts(self) -> list[tuple[dict[str, Any], int]]:
        """(status, sentiment, language) combinations and how many documents have each."""
        async with database_errors():
            cursor = await self.collection.aggregate(_GROUP_BY_FACETS)
            rows = await cursor.to_list()
        return [(row.get("_id") or {}, int(row.get("count", 0))) for row in rows]

"""The indexes of the shared `documents` collection, defined once for the three services.

Every service creates all of them at start (idempotently), so that each service's own queries
are indexed however the services start; the first one pays for building them. Which query
each index serves, and how that was checked, is in the README ("The store: every hot query
is indexed").
"""

from __future__ import annotations

import logging
from typing import Any

from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import OperationFailure

logger = logging.getLogger(__name__)

# Newest first; `_id` breaks ties between documents created in the same millisecond, which
# makes the order total and a list cursor unambiguous.
NEWEST_FIRST = [("created_at", DESCENDING), ("_id", DESCENDING)]

DOCUMENT_INDEXES = (
    # ingest: a duplicate is refused by this index, and found again through it
    IndexModel(
        [("tenant_id", ASCENDING), ("content_hash", ASCENDING)],
        unique=True,
        name="tenant_content_hash_unique",
    ),
    # query's lists, one per filter, each ending in the sort so that a page is read in order;
    # ingest's outbox recovery reads a range of `created_at`, analysis's resume one status
    IndexModel(NEWEST_FIRST, name="query_created"),
    IndexModel([("status", ASCENDING), *NEWEST_FIRST], name="query_status_created"),
    IndexModel(
        [("analysis.sentiment.label", ASCENDING), *NEWEST_FIRST], name="query_sentiment_created"
    ),
    IndexModel([("analysis.language", ASCENDING), *NEWEST_FIRST], name="query_language_created"),
    IndexModel([("analysis.keywords", ASCENDING), *NEWEST_FIRST], name="query_keyword_created"),
    IndexModel([("source", ASCENDING), *NEWEST_FIRST], name="query_source_created"),
)

# MongoDB's answers when an index with the same keys exists under another name or options
# (created by hand, or by an older release): that index serves the queries just as well.
_INDEX_CONFLICTS = {85, 86}


async def ensure_indexes(
    collection: AsyncCollection[Any], indexes: tuple[IndexModel, ...] = DOCUMENT_INDEXES
) -> list[str]:
    """Create the indexes that are missing (idempotent); the names that exist now."""
    names = []
    for index in indexes:
        try:
            names.extend(await collection.create_indexes([index]))
        except OperationFailure as exc:
            if exc.code not in _INDEX_CONFLICTS:
                raise
            logger.info("equivalent index exists", extra={"index": index.document["name"]})
    return names

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
    # query's lists and stats, always within one tenant: one index per filter, each led by
    # the tenant (an equality) and ending in the sort, so that a page is read in order and a
    # count walks one index range
    IndexModel([("tenant_id", ASCENDING), *NEWEST_FIRST], name="tenant_created"),
    *(
        IndexModel(
            [("tenant_id", ASCENDING), (field, ASCENDING), *NEWEST_FIRST],
            name=f"tenant_{name}_created",
        )
        for name, field in (
            ("status", "status"),
            ("sentiment", "analysis.sentiment.label"),
            ("language", "analysis.language"),
            ("keyword", "analysis.keywords"),
            ("source", "source"),
        )
    ),
    # the two reads across tenants: ingest's outbox recovery (a range of `created_at`) and
    # analysis's resume command (one status)
    IndexModel([("created_at", DESCENDING)], name="created"),
    IndexModel([("status", ASCENDING)], name="status"),
)

# Indexes of earlier releases that no query uses any more: dropped at start, since every
# index costs every insert. (The lists' indexes before tenants; `created` and `status`
# replace what ingest and analysis read through them.)
RETIRED_INDEXES = (
    "query_created",
    "query_status_created",
    "query_sentiment_created",
    "query_language_created",
    "query_keyword_created",
    "query_source_created",
)

# MongoDB's answers when an index with the same keys exists under another name or options
# (created by hand, or by an older release): that index serves the queries just as well.
_INDEX_CONFLICTS = {85, 86}
_INDEX_NOT_FOUND = 27  # another service starting beside us dropped it first


async def ensure_indexes(
    collection: AsyncCollection[Any],
    indexes: tuple[IndexModel, ...] = DOCUMENT_INDEXES,
    retired: tuple[str, ...] = RETIRED_INDEXES,
) -> list[str]:
    """Create the indexes that are missing, then drop the retired ones that exist
    (idempotent); the names created or found."""
    names = []
    for index in indexes:
        try:
            names.extend(await collection.create_indexes([index]))
        except OperationFailure as exc:
            if exc.code not in _INDEX_CONFLICTS:
                raise
            logger.info("equivalent index exists", extra={"index": index.document["name"]})
    present = await collection.index_information()
    for name in retired:
        if name not in present:
            continue
        try:
            await collection.drop_index(name)
        except OperationFailure as exc:
            if exc.code != _INDEX_NOT_FOUND:
                raise
        logger.info("retired index dropped", extra={"index": name})
    return names

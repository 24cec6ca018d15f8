"""The query service's MongoDB client: the common one, but quick to give up on server selection.

A read that the cache cannot answer should fail fast with a 503 when MongoDB is gone, not hang
for the common five seconds; an operation on a live but busy server keeps the common budget.
"""

from __future__ import annotations

from pymongo import AsyncMongoClient

from docflow.common.clients import MongoDocument
from docflow.query.settings import QuerySettings


def create_query_mongo_client(settings: QuerySettings) -> AsyncMongoClient[MongoDocument]:
    return AsyncMongoClient(
        settings.mongodb_uri.get_secret_value(),
        appname=settings.service_name,
        maxPoolSize=settings.mongodb_max_pool_size,
        serverSelectionTimeoutMS=settings.mongodb_server_selection_timeout_ms,
        connectTimeoutMS=settings.mongodb_timeout_ms,
        timeoutMS=settings.mongodb_timeout_ms * 2,
        tz_aware=True,
    )

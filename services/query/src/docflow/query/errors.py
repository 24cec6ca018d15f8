"""The query service's expected failures, each with the code a client can act on."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from pymongo.errors import PyMongoError

from docflow.common.clients import is_mongo_outage
from docflow.common.errors import BadRequest, NotFound, ServiceUnavailable, UnprocessableContent


class DocumentNotFound(NotFound):
    code, default_message = "document_not_found", "No document has this id."


class InvalidFilter(UnprocessableContent):
    code, default_message = "invalid_filter", "A filter has an invalid value."


class InvalidLimit(UnprocessableContent):
    code, default_message = "invalid_limit", "limit must be an integer from 1 to 100."


class InvalidCursor(BadRequest):
    code = "invalid_cursor"
    default_message = "The cursor is malformed; pass the next_cursor of a previous page."


class DatabaseUnavailable(ServiceUnavailable):
    code = "database_unavailable"
    default_message = "The database is unavailable and the answer is not cached; retry shortly."


@asynccontextmanager
async def database_errors() -> AsyncIterator[None]:
    """Turn "MongoDB cannot be reached" into a 503 `database_unavailable`."""
    try:
        yield
    except PyMongoError as exc:
        if is_mongo_outage(exc):
            raise DatabaseUnavailable() from exc
        raise

"""A route class that names what was wrong with a query string in the error code.

FastAPI checks every parameter's type first and reports a generic `validation_error`; for the
query endpoints a client is better served by `invalid_limit`, `invalid_cursor`,
`invalid_filter` (with the field) or, for an id that cannot exist, `document_not_found`.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response

from docflow.common.errors import DocflowError
from docflow.query.errors import DocumentNotFound, InvalidCursor, InvalidFilter, InvalidLimit

Handler = Callable[[Request], Coroutine[Any, Any, Response]]


def translate_validation_error(exc: RequestValidationError) -> DocflowError:
    problems = [
        {"field": str(error["loc"][-1]), "message": error.get("msg", "")}
        for error in exc.errors()
        if error.get("loc")
    ]
    fields = {problem["field"] for problem in problems}
    if "document_id" in fields:
        return DocumentNotFound()
    if "cursor" in fields:
        return InvalidCursor()
    if "limit" in fields:
        return InvalidLimit()
    names = ", ".join(sorted(fields)) or "the query"
    return InvalidFilter(f"Invalid value for {names}.", details=problems)


class QueryRoute(APIRoute):
    def get_route_handler(self) -> Handler:
        handler = super().get_route_handler()

        async def translated(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                raise translate_validation_error(exc) from None

        return translated

"""One error type for every expected failure, and the handlers that render all errors alike.

Every error, validation errors included, leaves as the `APIResponse` envelope with a
machine-readable code. A 5xx never carries a stack trace or a secret: those go to the log.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from docflow.common.envelope import error_response

logger = logging.getLogger(__name__)


class DocflowError(Exception):
    """An expected failure with an HTTP status, a stable code and a message a client can act on."""

    status_code: int = 500
    code: str = "internal_error"
    default_message: str = "The server could not complete the request."

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        details: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.message = message or self.default_message
        if code is not None:
            self.code = code
        self.details = details
        self.headers = dict(headers or {})
        super().__init__(self.message)


class BadRequest(DocflowError):
    status_code, code, default_message = 400, "bad_request", "The request is malformed."


class NotFound(DocflowError):
    status_code, code, default_message = 404, "not_found", "The resource does not exist."


class Conflict(DocflowError):
    status_code, code, default_message = 409, "conflict", "The request conflicts with the state."


class PayloadTooLarge(DocflowError):
    status_code, code, default_message = 413, "payload_too_large", "The request body is too large."


class UnsupportedMediaType(DocflowError):
    status_code, code = 415, "unsupported_media_type"
    default_message = "The content type is not supported."


class UnprocessableContent(DocflowError):
    status_code, code = 422, "unprocessable_content"
    default_message = "The content could not be processed."


class RateLimited(DocflowError):
    status_code, code, default_message = 429, "rate_limited", "Too many requests; slow down."


class ServiceUnavailable(DocflowError):
    status_code, code = 503, "service_unavailable"
    default_message = "A dependency is unavailable; try again shortly."


_CODES_BY_STATUS = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}


def _validation_details(exc: RequestValidationError) -> list[dict[str, Any]]:
    # The offending input is left out on purpose: it may be a secret or megabytes of text.
    return [
        {
            "loc": [str(part) for part in error.get("loc", ())],
            "msg": error.get("msg", ""),
            "type": error.get("type", ""),
        }
        for error in exc.errors()
    ]


def render_docflow_error(exc: DocflowError) -> Response:
    """The envelope for an expected failure (also used by lanes that bypass FastAPI's router)."""
    if exc.status_code >= 500:
        logger.warning("request failed: %s", exc.code, extra={"error_message": exc.message})
    return error_response(
        exc.status_code, exc.code, exc.message, details=exc.details, headers=exc.headers
    )


def render_validation_error(exc: RequestValidationError) -> Response:
    """400 `invalid_json` for a body that is not JSON, 422 `validation_error` otherwise."""
    details = _validation_details(exc)
    if any(item["type"] == "json_invalid" for item in details):
        return error_response(
            400, "invalid_json", "The request body is not valid JSON.", details=details
        )
    return error_response(422, "validation_error", "The request is invalid.", details=details)


async def _docflow_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DocflowError)
    return render_docflow_error(exc)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    return render_validation_error(exc)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    code = _CODES_BY_STATUS.get(exc.status_code, "http_error")
    message = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
    return error_response(exc.status_code, code, message, headers=exc.headers)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DocflowError, _docflow_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)

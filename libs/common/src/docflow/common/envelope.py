"""The response envelope every JSON endpoint returns, errors included.

`APIResponse[T]` documents the shape in OpenAPI; the hot path builds plain dicts and renders
them with orjson, which is several times faster than validating a model on the way out.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Generic, TypeVar

import orjson
from pydantic import BaseModel, ConfigDict
from starlette.responses import JSONResponse

from docflow.common.context import current_request_id

DataT = TypeVar("DataT")


class ErrorBody(BaseModel):
    code: str
    message: str
    details: Any = None


class Meta(BaseModel):
    model_config = ConfigDict(extra="allow")

    request_id: str


class APIResponse(BaseModel, Generic[DataT]):
    success: bool
    data: DataT | None = None
    error: ErrorBody | None = None
    meta: Meta


class EnvelopeResponse(JSONResponse):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, default=_default)


def _default(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, set | frozenset):
        return list(value)
    raise TypeError(f"cannot serialize {type(value).__name__}")


def envelope(data: Any, **meta: Any) -> dict[str, Any]:
    return {
        "success": True,
        "data": data,
        "error": None,
        "meta": {"request_id": current_request_id(), **meta},
    }


def ok(
    data: Any,
    *,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
    **meta: Any,
) -> EnvelopeResponse:
    return EnvelopeResponse(envelope(data, **meta), status_code=status_code, headers=headers)


def error_envelope(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {
        "success": False,
        "data": None,
        "error": {"code": code, "message": message, "details": details},
        "meta": {"request_id": current_request_id()},
    }


def error_response(
    status_code: int,
    code: str,
    message: str,
    *,
    details: Any = None,
    headers: Mapping[str, str] | None = None,
) -> EnvelopeResponse:
    return EnvelopeResponse(
        error_envelope(code, message, details), status_code=status_code, headers=headers
    )


def error_responses(*status_codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries declaring the error envelope for the given statuses."""
    return {
        status: {"model": APIResponse[None], "description": _describe(status)}
        for status in status_codes
    }


def _describe(status: int) -> str:
    from http import HTTPStatus

    return HTTPStatus(status).phrase

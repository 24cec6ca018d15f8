"""Request and response bodies in the logs, for debugging, without secrets or documents.

LOG_BODIES decides which exchanges are written: `off` captures nothing (RequestContextMiddleware
does not even wrap receive and send), `errors` captures every exchange and writes those answered
4xx or 5xx, `all` writes every one. One line per exchange, from the logger `docflow.bodies`,
after the response has been sent, with the request's and the response's:
- headers, where Authorization, Cookie, Set-Cookie, X-API-Key and any header named like a
  redacted field read "[REDACTED]";
- JSON body: parsed, every field named like a redacted field replaced at any depth, serialised
  again and cut at LOG_BODY_MAX_BYTES;
- any other body (multipart uploads, text, invalid JSON, too large to parse): its content type
  and size only. No byte of a body is written unless it went through the redaction.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import orjson
from starlette.types import Message, Receive, Scope, Send

from docflow.common.settings import CommonSettings, LogBodies

body_logger = logging.getLogger("docflow.bodies")

REDACTED = "[REDACTED]"
ALWAYS_REDACTED_HEADERS = frozenset({"authorization", "cookie", "set-cookie", "x-api-key"})
# A larger body is summarised: parsing megabytes to redact them would hold the event loop.
CAPTURE_LIMIT = 1 << 20
# Deeper JSON is cut there (orjson parses 1024 levels; recursing that far would overflow).
MAX_DEPTH = 32
DEEPER = "[...]"


def _normalised(name: str) -> str:
    return name.lower().replace("_", "").replace("-", "")


class Redactor:
    """Hides the values of fields and headers whose name ends with one of `fields`
    (compared in lower case without `_` and `-`: `token` hides `access_token` and `Token`)."""

    def __init__(self, fields: Iterable[str]) -> None:
        self.suffixes = tuple(_normalised(field) for field in fields if _normalised(field))

    def hides(self, name: str) -> bool:
        return _normalised(name).endswith(self.suffixes)

    def json_value(self, value: Any, depth: int = 0) -> Any:
        if isinstance(value, dict | list) and depth >= MAX_DEPTH:
            return DEEPER
        if isinstance(value, dict):
            return {
                key: REDACTED if self.hides(key) else self.json_value(item, depth + 1)
                for key, item in value.items()
            }
        if isinstance(value, list):
            return [self.json_value(item, depth + 1) for item in value]
        return value

    def headers(self, raw: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
        shown: dict[str, str] = {}
        for raw_name, raw_value in raw:
            name = raw_name.decode("latin-1").lower()
            if name in ALWAYS_REDACTED_HEADERS or self.hides(name):
                value = REDACTED
            else:
                value = raw_value.decode("latin-1")
            shown[name] = f"{shown[name]}, {value}" if name in shown else value
        return shown


def _media_type(headers: Iterable[tuple[bytes, bytes]]) -> str:
    for name, value in headers:
        if name.lower() == b"content-type":
            return value.decode("latin-1").split(";", 1)[0].strip().lower()
    return ""


def _is_json(media_type: str) -> bool:
    return media_type == "application/json" or media_type.endswith("+json")


class Body:
    """The chunks of one body as they went by, up to CAPTURE_LIMIT, and its full size."""

    __slots__ = ("chunks", "size")

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.size = 0

    def keep(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size <= CAPTURE_LIMIT:
            self.chunks.append(chunk)  # a reference: the bytes are not copied here

    def describe(
        self, headers: Iterable[tuple[bytes, bytes]], *, redactor: Redactor, max_bytes: int
    ) -> dict[str, Any]:
        media_type = _media_type(headers)
        entry: dict[str, Any] = {"content_type": media_type or None, "bytes": self.size}
        if not self.size:
            return entry
        if not _is_json(media_type):
            entry["omitted"] = "not JSON"
        elif self.size > CAPTURE_LIMIT:
            entry["omitted"] = "too large to redact"
        else:
            try:
                parsed = orjson.loads(b"".join(self.chunks))
            except orjson.JSONDecodeError:
                entry["omitted"] = "invalid JSON"
                return entry
            text = orjson.dumps(redactor.json_value(parsed))
            entry["body"] = text[:max_bytes].decode("utf-8", "ignore")
            if len(text) > max_bytes:
                entry["truncated"] = True
        return entry


class Exchange:
    """What one request and its response carried, collected by wrapping receive and send."""

    __slots__ = ("request", "response", "response_headers")

    def __init__(self) -> None:
        self.request = Body()
        self.response = Body()
        self.response_headers: list[tuple[bytes, bytes]] = []

    def wrap_receive(self, receive: Receive) -> Receive:
        async def receive_and_keep() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                self.request.keep(message.get("body", b""))
            return message

        return receive_and_keep

    def wrap_send(self, send: Send) -> Send:
        async def keep_and_send(message: Message) -> None:
            if message["type"] == "http.response.body":
                self.response.keep(message.get("body", b""))
            elif message["type"] == "http.response.start":
                self.response_headers = list(message.get("headers", ()))
            await send(message)

        return keep_and_send


class BodyLog:
    """The LOG_BODIES policy of an app: writes an Exchange once its response is sent."""

    def __init__(self, *, errors_only: bool, max_bytes: int, redact_fields: Iterable[str]) -> None:
        self.errors_only = errors_only
        self.max_bytes = max_bytes
        self.redactor = Redactor(redact_fields)

    @classmethod
    def from_settings(cls, settings: CommonSettings) -> BodyLog | None:
        """None when LOG_BODIES is off: the middleware then captures nothing."""
        mode = settings.body_logging
        if mode is LogBodies.OFF:
            return None
        return cls(
            errors_only=mode is LogBodies.ERRORS,
            max_bytes=settings.log_body_max_bytes,
            redact_fields=settings.log_redact_fields,
        )

    def write(self, scope: Scope, exchange: Exchange, status: int) -> None:
        """Called once the response has been sent, so formatting never delays it."""
        if self.errors_only and status < 400:
            return
        request_headers = scope["headers"]
        body_logger.info(
            "%s %s %d bodies",
            scope["method"],
            scope["path"],
            status,
            extra={
                "status": status,
                "request": self._side(request_headers, exchange.request),
                "response": self._side(exchange.response_headers, exchange.response),
            },
        )

    def _side(self, headers: list[tuple[bytes, bytes]], body: Body) -> dict[str, Any]:
        return {
            "headers": self.redactor.headers(headers),
            **body.describe(headers, redactor=self.redactor, max_bytes=self.max_bytes),
        }

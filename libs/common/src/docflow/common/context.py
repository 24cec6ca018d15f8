"""The correlation id of the work in progress, carried across HTTP, logs and Kafka headers."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar

from docflow.common.events import REQUEST_ID_HEADER, new_id

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)

# A caller's id is echoed into logs and headers, so only a safe alphabet and length pass.
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def new_request_id() -> str:
    return new_id()


def accept_request_id(candidate: str | None) -> str:
    """The caller's id if it is safe to echo, otherwise a fresh one."""
    if candidate and _VALID_REQUEST_ID.match(candidate):
        return candidate
    return new_request_id()


def current_request_id() -> str:
    """The id of the work in progress; a new one when nothing set it (a background task)."""
    request_id = request_id_var.get()
    if request_id is None:
        request_id = new_request_id()
        request_id_var.set(request_id)
    return request_id


@contextmanager
def bound_request_id(request_id: str | None) -> Iterator[str]:
    """Run a block of work under a correlation id, restoring the previous one afterwards."""
    effective = accept_request_id(request_id)
    token = request_id_var.set(effective)
    try:
        yield effective
    finally:
        request_id_var.reset(token)


def request_id_from_headers(headers: Mapping[str, object] | None) -> str | None:
    """The correlation id of a Kafka message, whatever the header's value type."""
    if not headers:
        return None
    value = headers.get(REQUEST_ID_HEADER)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value if isinstance(value, str) else None


def kafka_headers(**extra: str) -> dict[str, str]:
    """Headers for an outgoing message: the current correlation id plus any extras."""
    return {REQUEST_ID_HEADER: current_request_id(), **extra}

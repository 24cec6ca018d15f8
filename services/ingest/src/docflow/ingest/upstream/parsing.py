"""From the raw bytes of a `documents.incoming` message to an IncomingDocument and its tenant,
or a reason why not.

A rejected message is dead-lettered with its reason's code as `error.type`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import ValidationError

from docflow.common.events import IncomingDocument
from docflow.ingest.documents.batch import validation_details
from docflow.ingest.documents.shapes import check_metadata_size, unknown_fields
from docflow.ingest.documents.tenancy import upstream_tenant
from docflow.ingest.errors import InvalidMetadata, InvalidTenant
from docflow.ingest.settings import IngestSettings


class Rejected(Exception):
    """The message can never be processed: it goes to the dead-letter topic."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class Incoming:
    document: IncomingDocument
    tenant_id: str  # the producer's, checked (`default` when absent)


def parse_incoming(value: bytes | None, *, settings: IngestSettings) -> Incoming:
    if value is None:
        raise Rejected("empty_message", "The message has a null value (a tombstone).")
    if not value:
        raise Rejected("empty_message", "The message value is empty (0 bytes).")
    if len(value) > settings.max_message_bytes:
        raise Rejected(
            "message_too_large",
            f"The message has {len(value)} bytes; the limit is {settings.max_message_bytes}.",
        )
    try:
        value.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Rejected("invalid_utf8", f"The message is not UTF-8 (byte {exc.start}).") from None
    try:
        payload = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise Rejected("invalid_json", f"The message is not valid JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise Rejected("validation_error", "The message must be a JSON object.")
    refuse_costly_shapes(payload, settings=settings)
    try:
        document = IncomingDocument.model_validate(payload)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(item['loc']) or 'body'}: {item['msg']}" for item in validation_details(exc)
        )
        message = f"The message is not an IncomingDocument: {problems}"
        raise Rejected("validation_error", message) from None
    try:
        return Incoming(document=document, tenant_id=upstream_tenant(document.tenant_id))
    except InvalidTenant as exc:
        raise Rejected(exc.code, exc.message) from None


def refuse_costly_shapes(payload: dict[str, Any], *, settings: IngestSettings) -> None:
    """Refuse at once what validation would answer with one error per item (shapes.py)."""
    count, first = unknown_fields(payload)
    if count:
        names = ", ".join(repr(name[:40]) for name in first)
        raise Rejected(
            "validation_error",
            f"The message is not an IncomingDocument: {count} unknown field(s): {names}.",
        )
    try:
        check_metadata_size(payload, settings=settings)
    except InvalidMetadata as exc:
        raise Rejected(exc.code, exc.message) from None

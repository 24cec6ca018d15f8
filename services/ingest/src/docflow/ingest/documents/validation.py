"""Turning a submitted IncomingDocument into the sanitized document that is stored.

Content is refused unread when it is over its limit as sent: the sanitizer's work is bounded by
the limit, never by what a client chose to send. The short fields are checked after
sanitization (what counts is what we keep), and refused unread only far beyond their limits.
"""

from __future__ import annotations

import hashlib
import math

from inscriptis import get_text

from docflow.common.documents import ContentType, MetadataValue
from docflow.common.events import IncomingDocument
from docflow.common.sanitize import sanitize_line, sanitize_text
from docflow.ingest.documents.schemas import PreparedDocument
from docflow.ingest.documents.shapes import metadata_too_large
from docflow.ingest.errors import (
    ContentTooLarge,
    EmptyContent,
    FieldTooLong,
    InvalidMetadata,
)
from docflow.ingest.settings import IngestSettings

# Short fields: sanitization never grows text by more than NFC's small expansions, so anything
# this far over the limit is refused unread (a few kilobytes at most: cheap either way).
_PRECHECK_FACTOR = 4
_INT64 = 2**63


def content_hash(content: str) -> str:
    return hashlib.sha256(content.encode("utf-8")).hexdigest()


def html_to_text(markup: str) -> str:
    """Readable text from HTML, with line structure (nh3 alone would glue paragraphs)."""
    text: str = get_text(markup)
    return text


def prepare_content(raw: str, content_type: ContentType, *, settings: IngestSettings) -> str:
    limit = settings.max_content_chars
    if len(raw) > limit:
        raise _content_too_large(len(raw), limit)
    text = html_to_text(raw) if content_type is ContentType.HTML else raw
    content = sanitize_text(text)
    if not content:
        raise EmptyContent()
    if len(content) > limit:  # NFC can lengthen a few scripts' text a little
        raise _content_too_large(len(content), limit)
    return content


def _content_too_large(chars: int, limit: int) -> ContentTooLarge:
    return ContentTooLarge(
        f"The content has {chars} characters; the limit is {limit}.",
        details={"max_chars": limit, "chars": chars},
    )


def prepare_line(value: str | None, *, field: str, limit: int) -> str | None:
    """A sanitized one-line field, or None when nothing is left of it."""
    if value is None:
        return None
    if len(value) > limit * _PRECHECK_FACTOR:
        raise _too_long(field, limit)
    cleaned = sanitize_line(value)
    if len(cleaned) > limit:
        raise _too_long(field, limit)
    return cleaned or None


def _too_long(field: str, limit: int) -> FieldTooLong:
    return FieldTooLong(
        f"`{field}` is longer than {limit} characters.",
        details={"field": field, "max_chars": limit},
    )


def prepare_metadata(
    metadata: dict[str, MetadataValue] | None, *, settings: IngestSettings
) -> dict[str, MetadataValue] | None:
    if not metadata:
        return None
    if len(metadata) > settings.max_metadata_keys:
        raise metadata_too_large(len(metadata), settings=settings)
    cleaned: dict[str, MetadataValue] = {}
    for raw_key, value in metadata.items():
        key = _metadata_key(raw_key, settings=settings)
        if key in cleaned:
            raise InvalidMetadata(
                f"metadata key {key!r} appears twice after sanitization.",
                code="invalid_metadata_key",
                details={"key": key},
            )
        cleaned[key] = _metadata_value(key, value, settings=settings)
    return cleaned


def _metadata_key(raw_key: str, *, settings: IngestSettings) -> str:
    key = sanitize_line(raw_key[: settings.max_metadata_key_chars * _PRECHECK_FACTOR])
    problem = None
    if not key:
        problem = "is empty"
    elif len(key) > settings.max_metadata_key_chars:
        problem = f"is longer than {settings.max_metadata_key_chars} characters"
    elif "." in key or key.startswith("$"):
        # MongoDB and FerretDB both refuse such field names (paths and operators).
        problem = "may not contain '.' or start with '$'"
    if problem is not None:
        raise InvalidMetadata(
            f"metadata key {key[:80]!r} {problem}.",
            code="invalid_metadata_key",
            details={"key": key[:80]},
        )
    return key


def _metadata_value(key: str, value: MetadataValue, *, settings: IngestSettings) -> MetadataValue:
    limit = settings.max_metadata_value_chars
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        if not -_INT64 <= value < _INT64:
            raise _bad_value(key, "is outside the 64-bit integer range")
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _bad_value(key, "is not a finite number")
        return value
    if len(value) > limit * _PRECHECK_FACTOR:
        raise _bad_value(key, f"is longer than {limit} characters")
    text = sanitize_text(value)
    if len(text) > limit:
        raise _bad_value(key, f"is longer than {limit} characters")
    return text


def _bad_value(key: str, problem: str) -> InvalidMetadata:
    return InvalidMetadata(f"metadata value of {key!r} {problem}.", details={"key": key})


def prepare_document(
    document: IncomingDocument, *, tenant_id: str, settings: IngestSettings
) -> PreparedDocument:
    """Validate limits and sanitize every field; raises a specific error for the first problem.

    `tenant_id` is decided by the caller (tenancy.py), never read from the document here.
    """
    title = prepare_line(document.title, field="title", limit=settings.max_title_chars)
    source = prepare_line(document.source, field="source", limit=settings.max_field_chars)
    external_id = prepare_line(
        document.external_id, field="external_id", limit=settings.max_field_chars
    )
    metadata = prepare_metadata(document.metadata, settings=settings)
    content = prepare_content(document.content, document.content_type, settings=settings)
    return PreparedDocument(
        tenant_id=tenant_id,
        content=content,
        content_hash=content_hash(content),
        content_type=document.content_type,
        title=title,
        source=source,
        external_id=external_id,
        metadata=metadata,
    )

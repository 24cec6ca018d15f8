"""The list endpoint's filters, checked once and turned into one validated value.

FastAPI has already checked each value's type and shape (see `QueryRoute`); what is left
here are the rules that span fields or need normalizing.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime

from docflow.common.documents import DocumentStatus, SentimentLabel
from docflow.query.documents.cursor import Cursor, decode_cursor, to_millis
from docflow.query.errors import InvalidFilter, InvalidLimit


@dataclass(frozen=True, slots=True)
class ListQuery:
    limit: int
    status: DocumentStatus | None = None
    sentiment: SentimentLabel | None = None
    language: str | None = None
    keyword: str | None = None
    source: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    cursor: Cursor | None = None

    def digest(self) -> str:
        """A short stable name of this exact query, for its cache key."""
        cursor = self.cursor
        parts = (
            str(self.limit),
            self.status or "",
            self.sentiment or "",
            self.language or "",
            self.keyword or "",
            self.source or "",
            _millis(self.created_after),
            _millis(self.created_before),
            f"{to_millis(cursor.created_at)}:{cursor.document_id}" if cursor else "",
        )
        # \x1f cannot occur in a query-string value that survived validation unescaped.
        return hashlib.blake2b("\x1f".join(parts).encode(), digest_size=12).hexdigest()


def _millis(moment: datetime | None) -> str:
    return str(to_millis(moment)) if moment is not None else ""


def _utc(name: str, moment: datetime | None) -> datetime | None:
    """Times without an offset are read as UTC, the zone every stored time is in."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00+23:59 is in year 0 in UTC: no datetime holds it
        raise InvalidFilter(
            f"{name} is outside the range of representable times.", details={"field": name}
        ) from None


def _text(name: str, value: str | None) -> str | None:
    if value is None:
        return None
    stripped = value.strip()
    if not stripped:
        raise InvalidFilter(f"{name} must not be blank.", details={"field": name})
    return stripped


def build_list_query(
    *,
    limit: int,
    max_limit: int,
    status: DocumentStatus | None = None,
    sentiment: SentimentLabel | None = None,
    language: str | None = None,
    keyword: str | None = None,
    source: str | None = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
    cursor: str | None = None,
) -> ListQuery:
    if not 1 <= limit <= max_limit:
        raise InvalidLimit(f"limit must be an integer from 1 to {max_limit}.")
    after = _utc("created_after", created_after)
    before = _utc("created_before", created_before)
    if after is not None and before is not None and after >= before:
        raise InvalidFilter(
            "created_after must be earlier than created_before.",
            details={"field": "created_after"},
        )
    return ListQuery(
        limit=limit,
        status=status,
        sentiment=sentiment,
        language=language.lower() if language else None,
        keyword=_text("keyword", keyword),
        source=_text("source", source),
        created_after=after,
        created_before=before,
        cursor=decode_cursor(cursor) if cursor is not None else None,
    )

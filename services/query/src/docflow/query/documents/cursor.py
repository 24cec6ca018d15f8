"""The opaque pagination cursor: the sort key of the last item a page returned.

Pages are sorted by `(created_at desc, _id desc)`. A cursor names the last item's position,
so the next page starts strictly after it whatever was inserted meanwhile: new documents are
newer than every cursor and land before the first page, never inside a later one.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from docflow.query.errors import InvalidCursor

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Version 1: "1:<created_at in ms since the epoch>:<document id>". MongoDB stores datetimes
# with millisecond precision, so milliseconds are exact.
_CURSOR_TEXT = re.compile(r"^1:(\d{1,15}):([0-9A-Za-z_-]{1,64})$")
_MAX_CURSOR_LENGTH = 128


@dataclass(frozen=True, slots=True)
class Cursor:
    created_at: datetime
    document_id: str


def to_millis(moment: datetime) -> int:
    """Milliseconds since the epoch, in integers (a float timestamp can round up)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def encode_cursor(*, created_at: datetime, document_id: str) -> str:
    text = f"1:{to_millis(created_at)}:{document_id}"
    return base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode()


def decode_cursor(token: str) -> Cursor:
    """Parse a cursor from a client; anything but one we issued is a 400 `invalid_cursor`."""
    if not token or len(token) > _MAX_CURSOR_LENGTH:
        raise InvalidCursor()
    try:
        padded = token + "=" * (-len(token) % 4)
        text = base64.urlsafe_b64decode(padded.encode("ascii")).decode("ascii")
    except (binascii.Error, UnicodeError, ValueError):
        raise InvalidCursor() from None
    match = _CURSOR_TEXT.match(text)
    if match is None:
        raise InvalidCursor()
    try:
        created_at = _EPOCH + timedelta(milliseconds=int(match.group(1)))
    except OverflowError:
        raise InvalidCursor() from None
    return Cursor(created_at=created_at, document_id=match.group(2))

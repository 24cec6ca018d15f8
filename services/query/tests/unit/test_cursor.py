from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta, timezone

import pytest

from docflow.query.documents.cursor import decode_cursor, encode_cursor, to_millis
from docflow.query.errors import InvalidCursor

pytestmark = pytest.mark.unit


def test_cursor_round_trips_the_last_items_sort_key() -> None:
    created_at = datetime(2026, 3, 4, 5, 6, 7, 891000, tzinfo=UTC)
    token = encode_cursor(created_at=created_at, document_id="a" * 32)

    cursor = decode_cursor(token)

    assert cursor.created_at == created_at
    assert cursor.document_id == "a" * 32


def test_cursor_is_url_safe_and_unpadded() -> None:
    token = encode_cursor(created_at=datetime.now(UTC), document_id="f" * 32)

    assert "=" not in token
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def test_cursor_keeps_milliseconds_and_drops_what_mongodb_cannot_store() -> None:
    created_at = datetime(2026, 1, 1, 0, 0, 0, 123999, tzinfo=UTC)

    cursor = decode_cursor(encode_cursor(created_at=created_at, document_id="x"))

    assert cursor.created_at == datetime(2026, 1, 1, 0, 0, 0, 123000, tzinfo=UTC)


def test_millis_reads_naive_times_as_utc_and_converts_offsets() -> None:
    naive = datetime(2026, 1, 1, 12, 0)
    plus_two = datetime(2026, 1, 1, 14, 0, tzinfo=timezone(timedelta(hours=2)))

    assert to_millis(naive) == to_millis(plus_two) == 1767268800000


@pytest.mark.parametrize(
    "token",
    [
        "",
        "not base64 at all!",
        base64.urlsafe_b64encode(b"2:1700000000000:abc").decode(),  # unknown version
        base64.urlsafe_b64encode(b"1:notanumber:abc").decode(),
        base64.urlsafe_b64encode(b"1:1700000000000:").decode(),
        base64.urlsafe_b64encode(b"1:1700000000000:id with spaces").decode(),
        base64.urlsafe_b64encode(b"1:999999999999999:abc").decode(),  # past datetime.max
        base64.urlsafe_b64encode("1:1:é".encode()).decode(),
        "A" * 200,
    ],
)
def test_anything_but_an_issued_cursor_is_invalid_cursor(token: str) -> None:
    with pytest.raises(InvalidCursor) as caught:
        decode_cursor(token)

    assert caught.value.status_code == 400
    assert caught.value.code == "invalid_cursor"

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from docflow.common.documents import DocumentStatus
from docflow.query.documents.cursor import decode_cursor, encode_cursor
from docflow.query.documents.filters import build_list_query
from docflow.query.documents.repository import match_list_query
from docflow.query.errors import InvalidCursor, InvalidFilter, InvalidLimit

pytestmark = pytest.mark.unit


def test_no_filters_match_everything_of_the_tenant() -> None:
    query = build_list_query(limit=20, max_limit=100)

    assert match_list_query(query, tenant="acme") == {"tenant_id": "acme"}


def test_one_filter_is_a_plain_equality_within_the_tenant() -> None:
    query = build_list_query(limit=20, max_limit=100, status=DocumentStatus.ANALYZED)

    assert match_list_query(query, tenant="acme") == {
        "$and": [{"tenant_id": "acme"}, {"status": "analyzed"}]
    }


def test_every_filter_becomes_one_clause() -> None:
    after = datetime(2026, 1, 1, tzinfo=UTC)
    before = datetime(2026, 2, 1, tzinfo=UTC)
    query = build_list_query(
        limit=10,
        max_limit=100,
        status=DocumentStatus.QUEUED,
        sentiment="negative",
        language="EN",
        keyword=" Revenue ",
        source="crm",
        created_after=after,
        created_before=before,
    )

    assert match_list_query(query, tenant="acme") == {
        "$and": [
            {"tenant_id": "acme"},
            {"status": "queued"},
            {"analysis.sentiment.label": "negative"},
            {"analysis.language": "en"},
            {"analysis.keywords": {"$in": ["REVENUE", "Revenue", "revenue"]}},
            {"source": "crm"},
            {"created_at": {"$gte": after, "$lt": before}},
        ]
    }


def test_cursor_continues_strictly_after_the_last_item() -> None:
    last = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    token = encode_cursor(created_at=last, document_id="b" * 32)

    query = build_list_query(limit=5, max_limit=100, cursor=token)

    # the bound on created_at is what lets an index seek to the cursor
    assert match_list_query(query, tenant="acme") == {
        "$and": [
            {"tenant_id": "acme"},
            {"created_at": {"$lte": last}},
            {"$or": [{"created_at": {"$lt": last}}, {"_id": {"$lt": "b" * 32}}]},
        ]
    }


def test_times_without_offset_are_utc_and_offsets_are_converted() -> None:
    query = build_list_query(
        limit=5,
        max_limit=100,
        created_after=datetime(2026, 1, 1, 10, 0),
        created_before=datetime(2026, 1, 1, 13, 0, tzinfo=timezone(timedelta(hours=2))),
    )

    assert query.created_after == datetime(2026, 1, 1, 10, 0, tzinfo=UTC)
    assert query.created_before == datetime(2026, 1, 1, 11, 0, tzinfo=UTC)


@pytest.mark.parametrize("limit", [0, -1, 101])
def test_limit_outside_1_to_max_is_invalid_limit(limit: int) -> None:
    with pytest.raises(InvalidLimit) as caught:
        build_list_query(limit=limit, max_limit=100)

    assert (caught.value.status_code, caught.value.code) == (422, "invalid_limit")


def test_created_after_not_before_created_before_is_invalid_filter() -> None:
    moment = datetime(2026, 1, 1, tzinfo=UTC)

    with pytest.raises(InvalidFilter) as caught:
        build_list_query(limit=5, max_limit=100, created_after=moment, created_before=moment)

    assert caught.value.code == "invalid_filter"
    assert caught.value.details == {"field": "created_after"}


@pytest.mark.parametrize("field", ["keyword", "source"])
def test_blank_text_filter_is_invalid_filter(field: str) -> None:
    with pytest.raises(InvalidFilter) as caught:
        build_list_query(limit=5, max_limit=100, **{field: "   "})  # type: ignore[arg-type]

    assert caught.value.details == {"field": field}


def test_bad_cursor_is_invalid_cursor() -> None:
    with pytest.raises(InvalidCursor):
        build_list_query(limit=5, max_limit=100, cursor="garbage")


def test_digest_names_the_exact_query() -> None:
    base = build_list_query(limit=20, max_limit=100, status=DocumentStatus.ANALYZED)
    same = build_list_query(limit=20, max_limit=100, status=DocumentStatus.ANALYZED)
    other_limit = build_list_query(limit=21, max_limit=100, status=DocumentStatus.ANALYZED)
    token = encode_cursor(created_at=datetime.now(UTC), document_id="c" * 32)
    with_cursor = build_list_query(
        limit=20, max_limit=100, status=DocumentStatus.ANALYZED, cursor=token
    )
    # A filter value that spells another field's value must not collide.
    keyword = build_list_query(limit=20, max_limit=100, keyword="crm")
    source = build_list_query(limit=20, max_limit=100, source="crm")

    assert base.digest() == same.digest()
    digests = {base.digest(), other_limit.digest(), with_cursor.digest()}
    digests |= {keyword.digest(), source.digest()}
    assert len(digests) == 5
    assert decode_cursor(token).document_id == "c" * 32


def test_keyword_matches_its_usual_spellings() -> None:
    from docflow.query.documents.repository import keyword_spellings

    assert keyword_spellings("record revenue") == [
        "RECORD REVENUE",
        "Record Revenue",
        "Record revenue",
        "record revenue",
    ]


@pytest.mark.parametrize(
    ("field", "moment"),
    [
        ("created_after", datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=23, minutes=59)))),
        (
            "created_before",
            datetime(9999, 12, 31, 23, 59, tzinfo=timezone(-timedelta(hours=23, minutes=59))),
        ),
    ],
)
def test_a_time_outside_the_representable_range_is_an_invalid_filter(
    field: str, moment: datetime
) -> None:
    with pytest.raises(InvalidFilter) as raised:
        build_list_query(limit=20, max_limit=100, **{field: moment})  # type: ignore[arg-type]

    assert raised.value.details == {"field": field}

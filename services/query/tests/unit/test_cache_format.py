from __future__ import annotations

import time

import pytest

from docflow.query.cache.entries import Entry, compute_etag, new_entry, unpack
from docflow.query.cache.responses import cached_response, envelope_bytes, etag_matches
from docflow.query.cache.store import CacheKeys

pytestmark = pytest.mark.unit


def test_entry_round_trips_through_its_packed_bytes() -> None:
    entry = new_entry(b'{"id":"abc"}', fresh_for_s=60)

    restored = unpack(entry.pack())

    assert restored == entry
    assert restored is not None
    assert restored.found


def test_not_found_entry_round_trips() -> None:
    entry = new_entry(None, fresh_for_s=5)

    restored = unpack(entry.pack())

    assert restored is not None
    assert not restored.found
    assert restored.data == b""


@pytest.mark.parametrize("raw", [b"", b"short", b"X" + b"\x00" * 40])
def test_foreign_bytes_are_not_an_entry(raw: bytes) -> None:
    assert unpack(raw) is None


def test_entry_is_fresh_until_its_ttl_then_stale() -> None:
    entry = new_entry(b"{}", fresh_for_s=10)
    now = time.time()

    assert entry.is_fresh(now)
    assert not entry.is_fresh(now + 11)


def test_etag_is_a_quoted_hash_of_the_data_only() -> None:
    first = compute_etag(b'{"status":"queued"}')

    assert first == compute_etag(b'{"status":"queued"}')
    assert first != compute_etag(b'{"status":"analyzed"}')
    assert first.startswith(b'"')
    assert first.endswith(b'"')
    assert len(first) == 18


def test_keys_live_under_the_prefix_and_tenant_and_separate_variants_and_generations() -> None:
    keys = CacheKeys("deploy-a")

    assert keys.document("acme", "abc", with_content=True) == "deploy-a:query:acme:doc:abc:full"
    assert keys.document("acme", "abc", with_content=False) == "deploy-a:query:acme:doc:abc:brief"
    assert keys.document_variants("acme", "abc") == [
        "deploy-a:query:acme:doc:abc:full",
        "deploy-a:query:acme:doc:abc:brief",
    ]
    assert keys.listing("acme", 3, "d1") != keys.listing("acme", 4, "d1")
    assert keys.stats("acme", 7) == "deploy-a:query:acme:stats:7"
    assert keys.lock(keys.stats("acme", 7)) == "deploy-a:query:acme:stats:7:lock"
    assert keys.generation("acme") == "deploy-a:query:acme:generation"


def test_no_key_is_shared_between_tenants() -> None:
    keys = CacheKeys("deploy-a")

    def every_key(tenant: str) -> set[str]:
        return {
            *keys.document_variants(tenant, "abc"),
            keys.listing(tenant, 3, "d1"),
            keys.stats(tenant, 3),
            keys.generation(tenant),
        }

    assert every_key("acme").isdisjoint(every_key("globex"))
    assert every_key("acme").isdisjoint(every_key("default"))


@pytest.mark.parametrize(
    ("header", "matches"),
    [
        ('"abc"', True),
        ('W/"abc"', True),
        ('"x", "abc"', True),
        ("*", True),
        ('"abcd"', False),
        ("abc", False),
        ("", False),
    ],
)
def test_if_none_match_uses_weak_comparison_over_a_list(header: str, matches: bool) -> None:
    assert etag_matches(header, '"abc"') is matches


def test_envelope_splices_data_and_request_id_into_valid_json() -> None:
    import orjson

    from docflow.common.context import bound_request_id

    with bound_request_id("req-1"):
        body = envelope_bytes(b'{"id":"abc"}')

    assert orjson.loads(body) == {
        "success": True,
        "data": {"id": "abc"},
        "error": None,
        "meta": {"request_id": "req-1"},
    }


def test_matching_etag_gets_304_without_body_and_other_gets_200() -> None:
    entry = Entry(found=True, data=b"{}", etag=b'"e1"', fresh_until=0.0)

    not_modified = cached_response(entry, if_none_match='"e1"')
    full = cached_response(entry, if_none_match='"e0"')

    assert not_modified.status_code == 304
    assert not_modified.body == b""
    assert not_modified.headers["etag"] == '"e1"'
    assert full.status_code == 200
    assert full.headers["etag"] == '"e1"'
    assert full.headers["cache-control"] == "private, no-store"
    assert not_modified.headers["cache-control"] == "private, no-store"

"""The body fingerprint of `Idempotency-Key` requests, over any JSON a batch may hold."""

from __future__ import annotations

import pytest

from docflow.ingest.documents.idempotency import fingerprint

pytestmark = pytest.mark.unit


def test_key_order_does_not_change_the_fingerprint() -> None:
    assert fingerprint([{"a": 1, "b": 2}]) == fingerprint([{"b": 2, "a": 1}])


@pytest.mark.parametrize(
    "item",
    [
        {"content": "x", "metadata": {"n": 2**70}},  # found by schemathesis: a 500
        {"content": "\ud8bb lone surrogate"},
    ],
)
def test_json_that_orjson_cannot_encode_still_has_a_stable_fingerprint(item: object) -> None:
    assert fingerprint([item]) == fingerprint([item])
    assert fingerprint([item]) != fingerprint([{"content": "x"}])

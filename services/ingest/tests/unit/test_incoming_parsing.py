from __future__ import annotations

import orjson
import pytest

from docflow.ingest.documents.idempotency import fingerprint
from docflow.ingest.settings import IngestSettings
from docflow.ingest.upstream.parsing import Rejected, parse_incoming

pytestmark = pytest.mark.unit

SETTINGS = IngestSettings(max_message_bytes=2048)


def rejection(value: bytes | None) -> str:
    with pytest.raises(Rejected) as caught:
        parse_incoming(value, settings=SETTINGS)
    return caught.value.code


def test_a_valid_message_parses_with_the_producers_tenant() -> None:
    incoming = parse_incoming(
        orjson.dumps({"content": "hi", "tenant_id": "acme"}), settings=SETTINGS
    )
    assert (incoming.document.content, incoming.tenant_id) == ("hi", "acme")
    assert parse_incoming(b'{"content": "hi"}', settings=SETTINGS).tenant_id == "default"


@pytest.mark.parametrize(
    "tenant", ["a b", "x" * 64, "ten/ant", "", "Acme", "-lead", "dot.ted", "x" * 1000]
)
def test_a_tenant_that_no_api_key_could_name_is_rejected(tenant: str) -> None:
    with pytest.raises(Rejected) as caught:
        parse_incoming(orjson.dumps({"content": "hi", "tenant_id": tenant}), settings=SETTINGS)
    assert caught.value.code == "invalid_tenant"
    assert "tenant name" in caught.value.message
    assert len(caught.value.message) < 300, "a long tenant_id is not echoed whole"


@pytest.mark.parametrize(
    ("value", "code"),
    [
        (None, "empty_message"),
        (b"", "empty_message"),
        (b"{not json", "invalid_json"),
        (b'{"content": "caf\xe9"}', "invalid_utf8"),
        (b"[1, 2]", "validation_error"),
        (b'{"title": "no content"}', "validation_error"),
        (b'{"content": "x", "unknown": 1}', "validation_error"),
        (b'{"content": "' + b"x" * 3000 + b'"}', "message_too_large"),
    ],
)
def test_unprocessable_messages_are_rejected_with_a_code(value: bytes | None, code: str) -> None:
    assert rejection(value) == code


def test_fingerprint_ignores_key_order_but_not_values() -> None:
    assert fingerprint({"a": 1, "b": [1, 2]}) == fingerprint({"b": [1, 2], "a": 1})
    assert fingerprint({"a": 1}) != fingerprint({"a": 2})


def test_a_message_of_many_unknown_fields_is_refused_before_validation() -> None:
    # Validation would build one error per field: a second of event loop for 70,000 of them.
    fields = {f"f{i}": 1 for i in range(70_000)}
    settings = IngestSettings()
    with pytest.raises(Rejected) as caught:
        parse_incoming(orjson.dumps({"content": "hi", **fields}), settings=settings)
    assert caught.value.code == "validation_error"
    assert caught.value.message.startswith(
        "The message is not an IncomingDocument: 70000 unknown field(s): 'f0', 'f1', 'f10',"
    )


def test_metadata_over_its_key_limit_is_refused_before_validation() -> None:
    metadata = {f"k{i}": [i] for i in range(SETTINGS.max_metadata_keys + 1)}
    with pytest.raises(Rejected) as caught:
        parse_incoming(orjson.dumps({"content": "hi", "metadata": metadata}), settings=SETTINGS)
    assert caught.value.code == "metadata_too_large"


def test_a_tombstone_and_an_empty_value_say_which_they_are() -> None:
    for value, says in ((None, "null value"), (b"", "empty")):
        with pytest.raises(Rejected) as caught:
            parse_incoming(value, settings=SETTINGS)
        assert (caught.value.code, says in caught.value.message) == ("empty_message", True)

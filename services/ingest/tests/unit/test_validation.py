from __future__ import annotations

import hashlib
from typing import Any

import pytest

from docflow.common.errors import DocflowError
from docflow.common.events import IncomingDocument
from docflow.ingest.documents.validation import prepare_document
from docflow.ingest.settings import IngestSettings

pytestmark = pytest.mark.unit

SETTINGS = IngestSettings(
    max_content_chars=100, max_title_chars=20, max_metadata_keys=3, max_metadata_value_chars=10
)


def prepare(**fields: Any) -> Any:
    fields.setdefault("content", "Some content.")
    return prepare_document(IncomingDocument(**fields), tenant_id="acme", settings=SETTINGS)


def refusal(**fields: Any) -> DocflowError:
    with pytest.raises(DocflowError) as caught:
        prepare(**fields)
    return caught.value


def test_defaults_and_hash_of_the_sanitized_content() -> None:
    prepared = prepare(content="  <b>Hello</b> world \x00")
    assert prepared.tenant_id == "acme", "the tenant its caller decided"
    assert prepared.content == "Hello world"
    assert prepared.content_hash == hashlib.sha256(b"Hello world").hexdigest()


def test_same_text_with_different_markup_hashes_the_same() -> None:
    assert (
        prepare(content="<i>Hi</i> there").content_hash == prepare(content="Hi there").content_hash
    )


def test_html_content_is_converted_to_text_with_line_breaks() -> None:
    prepared = prepare(content="<p>One</p><p>Two</p><script>x()</script>", content_type="text/html")
    assert prepared.content.split() == ["One", "Two"]
    assert "\n" in prepared.content


def test_content_over_the_limit_is_too_large() -> None:
    error = refusal(content="x" * 101)
    assert (error.status_code, error.code) == (413, "content_too_large")


def test_content_at_the_limit_is_accepted() -> None:
    assert len(prepare(content="x" * 100).content) == 100


def test_content_that_sanitizes_to_nothing_is_empty() -> None:
    error = refusal(content="<script>only()</script>\x00\x01")
    assert (error.status_code, error.code) == (422, "empty_content")


def test_title_over_the_limit_is_refused() -> None:
    error = refusal(title="t" * 21)
    assert (error.status_code, error.code) == (422, "field_too_long")
    assert error.details["field"] == "title"


def test_title_of_only_markup_is_dropped() -> None:
    assert prepare(title="<script>x</script>").title is None


@pytest.mark.parametrize("key", ["a.b", "$where", "", "k" * 65])
def test_unstorable_metadata_keys_are_refused(key: str) -> None:
    error = refusal(metadata={key: "v"})
    assert (error.status_code, error.code) == (422, "invalid_metadata_key")


def test_too_many_metadata_keys_are_refused() -> None:
    error = refusal(metadata={f"k{i}": i for i in range(4)})
    assert error.code == "metadata_too_large"


@pytest.mark.parametrize("value", ["v" * 11, float("nan"), float("inf"), 2**63])
def test_unstorable_metadata_values_are_refused(value: Any) -> None:
    assert refusal(metadata={"k": value}).code == "invalid_metadata"


def test_metadata_values_keep_their_types_and_strings_are_sanitized() -> None:
    prepared = prepare(metadata={"flag": True, "n": 3, "s": "<b>bold</b>"})
    assert prepared.metadata == {"flag": True, "n": 3, "s": "bold"}
    assert prepare(metadata={"x": 1.5}).metadata == {"x": 1.5}

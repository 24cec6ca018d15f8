from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from docflow.common.envelope import APIResponse
from docflow.query.documents.render import render_document, render_page
from docflow.query.documents.schemas import DocumentOut, DocumentPage
from docflow.query.routing import translate_validation_error
from docflow.query.stats.repository import Counts
from docflow.query.stats.schemas import Stats
from docflow.query.stats.service import summarize

pytestmark = pytest.mark.unit

NOW = datetime(2026, 5, 1, 8, 30, 0, 250000, tzinfo=UTC)


def stored(document_id: str = "a" * 32, **overrides: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "_id": document_id,
        "tenant_id": "default",
        "title": "Q3",
        "content": "Acme reported record revenue.",
        "source": "crm",
        "external_id": None,
        "content_type": "text/plain",
        "metadata": {"team": "sales"},
        "content_hash": "h",
        "status": "analyzed",
        "created_at": NOW,
        "updated_at": NOW,
        "analysis": {
            "summary": "Record revenue.",
            "language": "en",
            "sentiment": {"label": "positive", "score": 0.8},
            "keywords": ["revenue"],
            "entities": [{"text": "Acme", "type": "ORG"}],
            "categories": ["finance"],
            "provider": "local",
            "model": "m",
            "prompt_version": "v1",
            "usage": {"prompt_tokens": 1, "completion_tokens": 2},
            "analyzed_at": NOW,
        },
        "error": None,
        "origin": "api",
        "published": True,
    }
    document.update(overrides)
    return document


def test_rendered_document_matches_the_documented_model_and_hides_internals() -> None:
    data = orjson.loads(render_document(stored()))

    DocumentOut.model_validate(data)
    assert data["id"] == "a" * 32
    assert data["created_at"] == "2026-05-01T08:30:00.250000Z"
    assert data["analysis"]["sentiment"] == {"label": "positive", "score": 0.8}
    assert not {"content_hash", "origin", "published", "_id"} & data.keys()


def test_document_without_content_field_renders_without_content() -> None:
    brief = stored()
    del brief["content"]

    data = orjson.loads(render_document(brief))

    assert "content" not in data


def test_analysis_that_does_not_fit_the_model_is_served_as_stored() -> None:
    data = orjson.loads(render_document(stored(analysis={"summary": "partial"})))

    assert data["analysis"] == {"summary": "partial"}


def test_page_with_one_extra_item_has_a_next_cursor_and_drops_the_extra() -> None:
    documents = [stored(document_id=str(i) * 32) for i in range(3)]

    full_page = orjson.loads(render_page(documents, limit=2))
    last_page = orjson.loads(render_page(documents[:2], limit=2))

    DocumentPage.model_validate(full_page)
    assert [item["id"] for item in full_page["items"]] == ["0" * 32, "1" * 32]
    assert full_page["next_cursor"]
    assert last_page["next_cursor"] is None


def test_summarize_counts_every_status_and_label_and_orders_languages() -> None:
    counts = Counts(
        total=10,  # a document without a status still counts in the total
        by_status={"analyzed": 5, "queued": 4},
        by_sentiment={"positive": 2, "negative": 3},
        by_language={"de": 2, "en": 3, "fr": 0},  # fr: its last document changed meanwhile
    )

    stats = summarize(counts)

    Stats.model_validate(stats)
    assert stats["total"] == 10
    assert stats["by_status"] == {"queued": 4, "analyzed": 5, "failed": 0, "deferred": 0}
    assert stats["by_sentiment"] == {"positive": 2, "neutral": 0, "negative": 3, "mixed": 0}
    assert list(stats["by_language"].items()) == [("en", 3), ("de", 2)]


def test_response_envelope_model_accepts_the_rendered_data() -> None:
    envelope = {
        "success": True,
        "data": orjson.loads(render_document(stored())),
        "error": None,
        "meta": {"request_id": "r"},
    }

    APIResponse[DocumentOut].model_validate(envelope)


def test_validation_errors_become_specific_codes() -> None:
    from fastapi.exceptions import RequestValidationError

    def error(field: str) -> RequestValidationError:
        return RequestValidationError([{"loc": ("query", field), "msg": "bad", "type": "x"}])

    assert translate_validation_error(error("limit")).code == "invalid_limit"
    assert translate_validation_error(error("cursor")).code == "invalid_cursor"
    assert translate_validation_error(error("status")).code == "invalid_filter"
    assert translate_validation_error(error("status")).details == [
        {"field": "status", "message": "bad"}
    ]
    path_error = RequestValidationError([{"loc": ("path", "document_id"), "msg": "bad"}])
    assert translate_validation_error(path_error).code == "document_not_found"

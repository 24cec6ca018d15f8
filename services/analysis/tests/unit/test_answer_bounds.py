"""A model's answer is cleaned and capped before anything of it is stored."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from docflow.analysis.providers.answers import (
    MAX_CATEGORIES,
    MAX_ENTITIES,
    MAX_ENTITY_TEXT_CHARS,
    MAX_KEYWORDS,
    MAX_LABEL_CHARS,
    MAX_SUMMARY_CHARS,
    parse_results,
)
from docflow.analysis.providers.base import DocumentResult

pytestmark = pytest.mark.unit


def _answer(**fields: Any) -> str:
    result = {
        "index": 0,
        "summary": "s",
        "language": "en",
        "sentiment": {"label": "neutral", "score": 0.0},
        "keywords": ["k"],
        "entities": [{"text": "Acme", "type": "ORG"}],
        "categories": ["finance"],
        **fields,
    }
    return orjson.dumps({"results": [result]}).decode()


def _parsed(**fields: Any) -> DocumentResult:
    result = parse_results(_answer(**fields), count=1)[0]
    assert isinstance(result, DocumentResult), result
    return result


def test_markup_and_control_characters_are_stripped_from_every_text() -> None:
    result = _parsed(
        summary="<script>alert(1)</script>Fine <b>news</b>\x00\x1b[31m",
        keywords=["<img src=x onerror=alert(1)>growth", "q3\x07"],
        entities=[{"text": "<i>Acme</i>", "type": "ORG<br>"}],
        categories=["<a href='javascript:x'>finance</a>"],
    )

    assert result.summary == "Fine news[31m"
    assert result.keywords == ["growth", "q3"]
    assert [(e.text, e.type) for e in result.entities] == [("Acme", "ORG")]
    assert result.categories == ["finance"]


def test_lengths_and_counts_are_capped_not_refused() -> None:
    result = _parsed(
        summary="word " * 10_000,
        keywords=[f"k{i}" + "x" * 500 for i in range(200)],
        entities=[{"text": "E" * 1000, "type": "ORG"} for _ in range(500)],
        categories=[f"c{i}" for i in range(100)],
    )

    assert 0 < len(result.summary) <= MAX_SUMMARY_CHARS
    assert len(result.keywords) == MAX_KEYWORDS
    assert all(len(keyword) <= MAX_LABEL_CHARS for keyword in result.keywords)
    assert len(result.entities) == MAX_ENTITIES
    assert all(len(entity.text) == MAX_ENTITY_TEXT_CHARS for entity in result.entities)
    assert len(result.categories) == MAX_CATEGORIES


def test_items_left_empty_by_cleaning_are_dropped() -> None:
    result = _parsed(
        keywords=["<b></b>", "kept"],
        entities=[{"text": "<br>", "type": "ORG"}, {"text": "Acme", "type": "ORG"}],
        categories=["\x00", "finance"],
    )

    assert result.keywords == ["kept"]
    assert [entity.text for entity in result.entities] == ["Acme"]
    assert result.categories == ["finance"]


@pytest.mark.parametrize(
    "fields",
    [
        {"summary": "<b></b>"},
        {"keywords": "not a list"},
        {"entities": [{"text": 7, "type": "ORG"}]},
        {"categories": [None]},
    ],
)
def test_what_is_not_of_the_right_shape_is_still_refused(fields: dict[str, Any]) -> None:
    assert isinstance(parse_results(_answer(**fields), count=1)[0], str)

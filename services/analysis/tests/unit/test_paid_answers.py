from __future__ import annotations

import pytest

from docflow.analysis.analyses.paid import PaidAnswers
from docflow.analysis.providers.base import Analyzed, DocumentResult
from docflow.common.documents import Usage

pytestmark = pytest.mark.unit


def answer(summary: str) -> Analyzed:
    result = DocumentResult.model_validate(
        {
            "summary": summary,
            "language": "en",
            "sentiment": {"label": "neutral", "score": 0.0},
            "keywords": [],
            "entities": [],
            "categories": [],
        }
    )
    return Analyzed(result=result, usage=Usage(prompt_tokens=1, completion_tokens=1))


def test_answers_wait_until_dropped_and_the_oldest_go_first_past_capacity() -> None:
    paid = PaidAnswers(capacity=2)
    paid.keep({"a": answer("a"), "b": answer("b")})
    assert set(paid.take(["a", "b", "x"])) == {"a", "b"}
    assert set(paid.take(["a"])) == {"a"}  # taking does not forget: only a store does

    paid.keep({"c": answer("c")})
    assert len(paid) == 2
    assert set(paid.take(["a", "b", "c"])) == {"b", "c"}

    paid.drop(["b", "zz"])
    assert set(paid.take(["a", "b", "c"])) == {"c"}

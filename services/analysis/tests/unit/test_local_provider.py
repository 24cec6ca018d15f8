"""The embedded analyzer: offline, deterministic, and within the contract's shapes."""

from __future__ import annotations

import pytest

from docflow.analysis.providers import local_text
from docflow.analysis.providers.base import DocumentInput
from docflow.analysis.providers.local import LocalProvider, analyze_text

pytestmark = pytest.mark.unit

POSITIVE = (
    "Acme Corp reported record revenue and strong growth this quarter. Investors in New York "
    "were delighted. The board thanked Jane Doe for an excellent year."
)


def test_positive_finance_text_is_analyzed_in_english_with_entities() -> None:
    result = analyze_text(POSITIVE)

    assert result.language == "en"
    assert result.sentiment.label == "positive"
    assert 0 < result.sentiment.score <= 1
    assert "finance" in result.categories
    assert {"Acme Corp", "New York"} <= {e.text for e in result.entities}
    assert any("revenue" in k for k in result.keywords)
    assert result.summary


def test_german_text_is_detected_as_german() -> None:
    assert local_text.language("Die Firma hat heute einen neuen Vertrag unterschrieben.") == "de"


def test_negative_text_gets_a_negative_label() -> None:
    sentiment = local_text.sentiment("This was a terrible, awful failure and everyone is angry.")
    assert sentiment.label == "negative"
    assert sentiment.score < 0


def test_strong_praise_and_strong_blame_together_read_as_mixed() -> None:
    sentiment = local_text.sentiment("Great wonderful love! Terrible awful hate!")
    assert sentiment.label == "mixed"


def test_summary_keeps_the_most_representative_sentences_in_order() -> None:
    text = (
        "Revenue grew. The weather was fine. Revenue and profit grew as revenue rose. "
        "Lunch was served."
    )
    summary = local_text.summarize(text, limit=2)
    assert summary.startswith("Revenue grew.")
    assert "Revenue and profit grew" in summary
    assert "Lunch" not in summary


def test_text_without_category_words_is_general() -> None:
    assert local_text.categories("a quiet afternoon by the lake") == ["general"]


async def test_provider_analyzes_every_document_without_usage() -> None:
    provider = LocalProvider()
    documents = [
        DocumentInput(document_id="a", tenant_id="t", text=POSITIVE),
        DocumentInput(document_id="b", tenant_id="t", text="Short note about cloud software."),
    ]

    outcome = await provider.analyze(documents)

    assert set(outcome.analyzed) == {"a", "b"}
    assert not outcome.failed
    assert outcome.analyzed["a"].usage.prompt_tokens == 0

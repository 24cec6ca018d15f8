"""The embedded default provider: analyzes offline with yake, VADER and lingua."""

from __future__ import annotations

import asyncio

from docflow.analysis.providers import local_text
from docflow.analysis.providers.base import (
    Analyzed,
    DocumentInput,
    DocumentResult,
    ProviderOutcome,
)
from docflow.common.documents import Usage


def analyze_text(text: str) -> DocumentResult:
    detected = local_text.language(text)
    return DocumentResult(
        summary=local_text.summarize(text) or "(empty)",
        language=detected,
        sentiment=local_text.sentiment(text),
        keywords=local_text.keywords(text, language=detected),
        entities=local_text.entities(text),
        categories=local_text.categories(text),
    )


class LocalProvider:
    name = "local"
    model = "local"

    async def analyze(self, documents: list[DocumentInput]) -> ProviderOutcome:
        outcome = ProviderOutcome()
        for document in documents:
            try:
                # CPU-bound (yake, lingua): off the event loop so Kafka heartbeats keep flowing.
                result = await asyncio.to_thread(analyze_text, document.text)
            except Exception as exc:  # one bad text must not fail its batch-mates
                outcome.failed[document.document_id] = f"local analysis failed: {exc!r}"[:500]
                continue
            outcome.analyzed[document.document_id] = Analyzed(result=result, usage=Usage())
        return outcome

    async def probe(self) -> None:
        return None

    async def warm_up(self) -> None:
        """Load the language models and lexicons (~4 s) before the first document needs them."""
        await asyncio.to_thread(analyze_text, "Warm up the analyzer. It loads its models once.")

    async def aclose(self) -> None:
        return None

"""Packing documents into chat requests, first-fit in arrival order, up to a token budget.

A request's budget counts its prompt (the system prompt, each document in its delimiters) and
the completion reserved for its documents, which the provider charges against TPM up front.
"""

from __future__ import annotations

from dataclasses import dataclass

from docflow.analysis.providers.base import DocumentInput
from docflow.analysis.providers.openai.prompt import SYSTEM_PROMPT, escape_document
from docflow.analysis.providers.tokens import TokenEstimator
from docflow.analysis.settings import AnalysisSettings

# The wrapper around each document in the user message, in tokens (tag, index, newline).
DOCUMENT_OVERHEAD_TOKENS = 12
# The chat format's own tokens per message.
MESSAGE_OVERHEAD_TOKENS = 4


@dataclass(frozen=True, slots=True)
class RequestPlan:
    """One chat request: its documents (index = position) and its token reservation."""

    documents: list[DocumentInput]
    prompt_tokens: int
    completion_tokens: int

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True, slots=True)
class Packer:
    estimator: TokenEstimator
    max_tokens_per_request: int
    max_documents_per_request: int
    completion_tokens_per_document: int

    @classmethod
    def from_settings(cls, settings: AnalysisSettings, estimator: TokenEstimator) -> Packer:
        return cls(
            estimator=estimator,
            max_tokens_per_request=settings.max_tokens_per_request,
            max_documents_per_request=settings.max_documents_per_request,
            completion_tokens_per_document=settings.completion_tokens_per_document,
        )

    def base_prompt_tokens(self) -> int:
        return self.estimator.text(SYSTEM_PROMPT) + 2 * MESSAGE_OVERHEAD_TOKENS + 8

    def document_tokens(self, document: DocumentInput) -> int:
        return self.estimator.text(escape_document(document.text)) + DOCUMENT_OVERHEAD_TOKENS

    def completion_tokens(self, documents: int) -> int:
        per_document = self.estimator.completion_reserve(
            ceiling=self.completion_tokens_per_document
        )
        return documents * per_document + 20

    def pack(self, documents: list[DocumentInput], *, alone: bool = False) -> list[RequestPlan]:
        """First-fit in arrival order; `alone` sends each document in its own request
        (used for retries, so one bad document cannot spoil its request-mates' answers again)."""
        plans: list[RequestPlan] = []
        current: list[DocumentInput] = []
        prompt = base = self.base_prompt_tokens()
        limit = 1 if alone else self.max_documents_per_request
        for document in documents:
            cost = self.document_tokens(document)
            total = prompt + cost + self.completion_tokens(len(current) + 1)
            if current and (len(current) >= limit or total > self.max_tokens_per_request):
                plans.append(self._plan(current, prompt))
                current, prompt = [], base
            current.append(document)
            prompt += cost
        if current:
            plans.append(self._plan(current, prompt))
        return plans

    def _plan(self, documents: list[DocumentInput], prompt: int) -> RequestPlan:
        return RequestPlan(list(documents), prompt, self.completion_tokens(len(documents)))

"""Packing documents into chat requests: one tenant per request, then first-fit in arrival
order up to a token budget.

One tenant per request: documents share a prompt, so an injected document could steer the
model's answers for its request-mates or copy their text into its own result. Documents of one
tenant may share a request; documents of two never do. This is the only place that forms
requests, for the real-time provider and the Batch API alike.

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
    """One chat request: its tenant, its documents (index = position) and its token
    reservation."""

    tenant_id: str
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
        """One tenant per request, tenants in order of first arrival; `alone` sends each
        document in its own request (used for retries, so one bad document cannot spoil its
        request-mates' answers again)."""
        by_tenant: dict[str, list[DocumentInput]] = {}
        for document in documents:
            by_tenant.setdefault(document.tenant_id, []).append(document)
        return [
            plan
            for tenant_documents in by_tenant.values()
            for plan in self._pack_one_tenant(tenant_documents, alone=alone)
        ]

    def _pack_one_tenant(self, documents: list[DocumentInput], *, alone: bool) -> list[RequestPlan]:
        """First-fit in arrival order."""
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
        return RequestPlan(
            documents[0].tenant_id,
            list(documents),
            prompt,
            self.completion_tokens(len(documents)),
        )

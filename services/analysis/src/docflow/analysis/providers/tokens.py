"""Packing documents into chat requests up to a token budget, and the truncation rule.

Token estimate: tiktoken's `o200k_base` when its BPE file is already cached (TIKTOKEN_CACHE_DIR;
tiktoken downloads on first use, which fails offline), else ceil(chars / 4) + 1, which is
OpenAI's rule of thumb rounded up. Every response's `usage` then corrects the estimate
(`TokenEstimator.reconcile`), so a systematic underestimate does not overrun the TPM limit.

Truncation: a document longer than MAX_DOCUMENT_TOKENS keeps its first two thirds and its last
third of that budget with a marker saying how many characters were left out between them
(head + tail keeps the introduction and the conclusion). It is never dropped silently: the
stored analysis records `truncated: true`.
"""

from __future__ import annotations

import logging
import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass

from docflow.analysis.prompt import SYSTEM_PROMPT, escape_document
from docflow.analysis.providers.base import DocumentInput

logger = logging.getLogger(__name__)

# Characters that are not text (C0/C1 controls except tab and newline) never reach a model.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# The wrapper around each document in the user message, in tokens (tag, index, newline).
DOCUMENT_OVERHEAD_TOKENS = 12
# The chat format's own tokens per message.
MESSAGE_OVERHEAD_TOKENS = 4
# The least completion reserved per document even when results have been short so far.
MIN_COMPLETION_PER_DOCUMENT = 64
TRUNCATION_MARKER = "\n[... {omitted} characters omitted ...]\n"


def _load_tiktoken() -> Callable[[str], int] | None:
    if not os.environ.get("TIKTOKEN_CACHE_DIR"):
        return None  # without a cache tiktoken would try to download (and hang offline)
    try:
        import tiktoken

        encoding = tiktoken.get_encoding("o200k_base")
    except Exception:
        logger.warning("tiktoken encoding unavailable; using the chars/4 estimate")
        return None
    return lambda text: len(encoding.encode(text, disallowed_special=()))


def chars_estimate(text: str) -> int:
    return math.ceil(len(text) / 4) + 1


class TokenEstimator:
    """Estimates prompt tokens before sending and learns from the `usage` of each answer."""

    def __init__(self, count: Callable[[str], int] | None = None) -> None:
        self._count = count or _load_tiktoken() or chars_estimate
        # Observed/estimated prompt tokens; only ever raises estimates (never below 1.0).
        self.correction = 1.0
        # Completion tokens a document's result actually takes (moving average), once known.
        self.completion_per_document: float | None = None

    def text(self, text: str) -> int:
        return math.ceil(self._count(text) * self.correction)

    def reconcile(self, *, estimated: int, actual: int) -> None:
        if estimated <= 0 or actual <= 0:
            return
        ratio = actual / estimated * self.correction
        # A slow moving average: one odd answer must not swing the budget.
        self.correction = max(1.0, 0.8 * self.correction + 0.2 * ratio)

    def observe_completion(self, *, tokens: int, documents: int, truncated: bool) -> None:
        """Learn how long results are; an answer cut off by the limit doubles the estimate."""
        if documents <= 0:
            return
        observed = tokens / documents * (2.0 if truncated else 1.0)
        previous = self.completion_per_document
        self.completion_per_document = (
            observed if previous is None or truncated else 0.8 * previous + 0.2 * observed
        )

    def completion_reserve(self, *, ceiling: int) -> int:
        """Tokens to reserve per document: 1.5x what results take, never above `ceiling`.

        The reservation counts against TPM (the provider charges max_completion_tokens up
        front), so reserving the ceiling for 70-token answers would waste most of the limit.
        """
        if self.completion_per_document is None:
            return ceiling
        return max(
            MIN_COMPLETION_PER_DOCUMENT, min(ceiling, math.ceil(self.completion_per_document * 1.5))
        )


def clean_text(text: str) -> str:
    return _CONTROL.sub("", text)


def truncate(text: str, *, max_tokens: int, estimator: TokenEstimator) -> tuple[str, bool]:
    """Head (2/3) + marker + tail (1/3) when the text is over `max_tokens`."""
    tokens = estimator.text(text)
    if tokens <= max_tokens:
        return text, False
    keep_chars = max(1, int(len(text) * max_tokens / tokens) - len(TRUNCATION_MARKER) - 8)
    head = keep_chars * 2 // 3
    tail = keep_chars - head
    omitted = len(text) - head - tail
    return text[:head] + TRUNCATION_MARKER.format(omitted=omitted) + text[-tail:], True


def prepare_document(
    *,
    document_id: str,
    tenant_id: str,
    title: str | None,
    content: str,
    max_tokens: int,
    estimator: TokenEstimator,
) -> DocumentInput:
    body = clean_text(f"{title}\n\n{content}" if title else content)
    text, truncated = truncate(body, max_tokens=max_tokens, estimator=estimator)
    return DocumentInput(
        document_id=document_id, tenant_id=tenant_id, text=text, truncated=truncated
    )


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
        (used for retries, so one bad document cannot spoil its batch-mates' answers again)."""
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

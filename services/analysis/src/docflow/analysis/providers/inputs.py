"""What every provider is handed: a document's text, cleaned and within the size limit.

Truncation: a document longer than MAX_DOCUMENT_TOKENS keeps its first two thirds and its last
third of that budget with a marker saying how many characters were left out between them
(head + tail keeps the introduction and the conclusion). It is never dropped silently: the
stored analysis records `truncated: true`.
"""

from __future__ import annotations

import re

from docflow.analysis.providers.base import DocumentInput
from docflow.analysis.providers.tokens import TokenEstimator

# Characters that are not text (C0/C1 controls except tab and newline) never reach a model.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
TRUNCATION_MARKER = "\n[... {omitted} characters omitted ...]\n"


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

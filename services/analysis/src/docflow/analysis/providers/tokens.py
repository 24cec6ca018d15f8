"""Estimating prompt tokens before a request, and learning from each answer's `usage`.

tiktoken's `o200k_base` when its BPE file is already cached (TIKTOKEN_CACHE_DIR; tiktoken
downloads on first use, which fails offline), else ceil(chars / 4) + 1, which is OpenAI's rule of
thumb rounded up. Every response's `usage` then corrects the estimate
(`TokenEstimator.reconcile`), so a systematic underestimate does not overrun the TPM limit.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable

logger = logging.getLogger(__name__)

# The least completion reserved per document even when results have been short so far.
MIN_COMPLETION_PER_DOCUMENT = 64


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

    def __init__(self) -> None:
        self._count = _load_tiktoken() or chars_estimate
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

"""The one retry policy: exponential backoff with full jitter, attempts from settings.

The SDK's own retries are off (`max_retries=0`), so a request is never retried in two places.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from docflow.analysis.settings import AnalysisSettings


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int
    base_delay_s: float
    max_delay_s: float

    @classmethod
    def from_settings(cls, settings: AnalysisSettings) -> RetryPolicy:
        return cls(settings.retry_attempts, settings.retry_base_delay_s, settings.retry_max_delay_s)

    def delay(self, attempt: int) -> float:
        """Seconds to wait before attempt `attempt + 1` (attempt counts from 1)."""
        ceiling = min(self.max_delay_s, self.base_delay_s * 2 ** (attempt - 1))
        return random.uniform(ceiling / 2, ceiling)

    def exhausted(self, attempt: int) -> bool:
        return attempt >= self.attempts

"""Building the provider and its helpers from settings (the OpenAI client only when used)."""

from __future__ import annotations

from docflow.analysis.batching import TokenEstimator
from docflow.analysis.providers.base import Provider
from docflow.analysis.providers.local import LocalProvider
from docflow.analysis.settings import AnalysisSettings, LLMProvider


def create_provider(settings: AnalysisSettings, estimator: TokenEstimator) -> Provider:
    if settings.llm_provider is LLMProvider.LOCAL:
        return LocalProvider()
    from docflow.analysis.providers.openai import OpenAIProvider, create_client
    from docflow.analysis.ratelimit import RateLimiter

    return OpenAIProvider(
        settings=settings,
        client=create_client(settings),
        limiter=RateLimiter(rpm=settings.rate_limit_rpm, tpm=settings.rate_limit_tpm),
        estimator=estimator,
    )

"""The provider LLM_PROVIDER names, and the Batch API client, built from settings (the OpenAI
SDK is imported only when one of them needs it)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from docflow.analysis.providers.base import Provider
from docflow.analysis.providers.local import LocalProvider
from docflow.analysis.providers.tokens import TokenEstimator
from docflow.analysis.settings import AnalysisSettings, LLMProvider

if TYPE_CHECKING:
    from docflow.analysis.providers.openai.batch_api import BatchApiClient


def current_model(settings: AnalysisSettings) -> str:
    """The model name the configured provider stores on its analyses (without building it)."""
    if settings.llm_provider is LLMProvider.LOCAL:
        return LocalProvider.model
    return settings.openai_model


def create_provider(settings: AnalysisSettings, estimator: TokenEstimator) -> Provider:
    if settings.llm_provider is LLMProvider.LOCAL:
        return LocalProvider()
    from docflow.analysis.providers.openai.provider import OpenAIProvider, create_client
    from docflow.analysis.providers.openai.ratelimit import RateLimiter

    return OpenAIProvider(
        settings=settings,
        client=create_client(settings),
        limiter=RateLimiter(rpm=settings.rate_limit_rpm, tpm=settings.rate_limit_tpm),
        estimator=estimator,
    )


def create_batch_api_client(
    settings: AnalysisSettings, estimator: TokenEstimator
) -> BatchApiClient:
    """ANALYSIS_MODE=batch: the client that submits packed requests to the OpenAI Batch API."""
    from docflow.analysis.providers.openai.batch_api import BatchApiClient
    from docflow.analysis.providers.openai.packing import Packer
    from docflow.analysis.providers.openai.provider import create_client

    return BatchApiClient(
        client=create_client(settings),
        packer=Packer.from_settings(settings, estimator),
        model=settings.openai_model,
        structured=settings.openai_structured_output,
    )

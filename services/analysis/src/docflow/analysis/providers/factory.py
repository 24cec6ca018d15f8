"""Building the provider and its helpers from settings (the OpenAI client only when used)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from docflow.analysis.batching import Packer, TokenEstimator
from docflow.analysis.providers.base import Provider
from docflow.analysis.providers.local import LocalProvider
from docflow.analysis.settings import AnalysisSettings, LLMProvider

if TYPE_CHECKING:
    from docflow.analysis.analyses.batch_mode import BatchRunner
    from docflow.analysis.analyses.context import AnalysisContext


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


def create_batch_runner(settings: AnalysisSettings, context: AnalysisContext) -> BatchRunner:
    """ANALYSIS_MODE=batch: the runner that submits queued documents to the Batch API."""
    from docflow.analysis.analyses.batch_mode import BatchRunner
    from docflow.analysis.providers.openai import create_client

    packer = Packer(
        estimator=context.estimator,
        max_tokens_per_request=settings.max_tokens_per_request,
        max_documents_per_request=settings.max_documents_per_request,
        completion_tokens_per_document=settings.completion_tokens_per_document,
    )
    return BatchRunner(ctx=context, client=create_client(settings), packer=packer)

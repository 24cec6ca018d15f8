"""Settings refuse what must never reach a paid API."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from docflow.analysis.providers.factory import create_provider
from docflow.analysis.providers.tokens import TokenEstimator
from docflow.analysis.settings import AnalysisSettings, LLMProvider
from docflow.common.settings import AppEnv

pytestmark = pytest.mark.unit


def test_local_provider_needs_no_key() -> None:
    settings = AnalysisSettings(llm_provider=LLMProvider.LOCAL)
    assert create_provider(settings, TokenEstimator()).model == "local"
    assert settings.http_port == 8003


def test_openai_without_a_key_is_refused() -> None:
    with pytest.raises(ValidationError, match="OPENAI_API_KEY is required"):
        AnalysisSettings(llm_provider=LLMProvider.OPENAI, openai_api_key=None)


@pytest.mark.parametrize("key", ["changeme", "sk-...", "sk-xxxxxxxx", "your-api-key"])
def test_placeholder_key_is_refused_outside_development(key: str) -> None:
    with pytest.raises(ValidationError, match="placeholder"):
        AnalysisSettings(
            llm_provider=LLMProvider.OPENAI, openai_api_key=key, app_env=AppEnv.PRODUCTION
        )


async def test_placeholder_key_is_accepted_in_development() -> None:
    settings = AnalysisSettings(llm_provider=LLMProvider.OPENAI, openai_api_key="changeme")
    provider = create_provider(settings, TokenEstimator())
    assert provider.model == "gpt-4o-mini"
    await provider.aclose()


def test_cost_follows_the_price_table() -> None:
    settings = AnalysisSettings()
    cost = settings.price_of(model="gpt-4o-mini", prompt_tokens=1_000_000, completion_tokens=0)
    assert cost == pytest.approx(0.15)
    assert settings.price_of(model="unknown", prompt_tokens=10, completion_tokens=10) == 0.0


def test_empty_base_url_means_the_sdk_default() -> None:
    settings = AnalysisSettings(openai_base_url="  ", llm_provider=LLMProvider.LOCAL)
    assert settings.openai_base_url is None


def test_empty_key_counts_as_missing() -> None:
    with pytest.raises(ValidationError, match="OPENAI_API_KEY is required"):
        AnalysisSettings(llm_provider=LLMProvider.OPENAI, openai_api_key="")

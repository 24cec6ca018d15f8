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
            llm_provider=LLMProvider.OPENAI, openai_api_key=key, app_env=AppEnv.STAGING
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


SAFE_PRODUCTION = {
    "app_env": AppEnv.PRODUCTION,
    "mongodb_uri": "mongodb://docflow:s3cr3t-Pa55@db:27017/?tls=true",
    "redis_url": "rediss://:s3cr3t-Pa55@cache:6380/0",
    "kafka_security_protocol": "SASL_SSL",
    "kafka_sasl_username": "docflow",
    "kafka_sasl_password": "s3cr3t-Pa55",
}


def test_production_requires_a_daily_spend_cap() -> None:
    with pytest.raises(ValidationError, match="LLM_SPEND_CAP_USD_PER_DAY is required"):
        AnalysisSettings(**SAFE_PRODUCTION)  # type: ignore[arg-type]
    settings = AnalysisSettings(**SAFE_PRODUCTION, llm_spend_cap_usd_per_day=25)  # type: ignore[arg-type]
    assert settings.llm_spend_cap_usd_per_day == 25


def test_the_spend_cap_is_optional_outside_production() -> None:
    assert AnalysisSettings(llm_spend_cap_usd_per_day="").llm_spend_cap_usd_per_day is None

"""The analysis service's settings: the provider, request packing, rate limits, budgets and
prices."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator

from docflow.common.production import is_placeholder
from docflow.common.settings import CommonSettings


class LLMProvider(StrEnum):
    LOCAL = "local"
    OPENAI = "openai"


class AnalysisMode(StrEnum):
    REALTIME = "realtime"
    BATCH_API = "batch"  # the OpenAI Batch API


class ModelPrice(BaseModel):
    """USD per one million tokens."""

    prompt: float = Field(ge=0)
    completion: float = Field(ge=0)


# List prices (USD / 1M tokens) at the time of writing; override with ANALYSIS_PRICES as JSON.
DEFAULT_PRICES: dict[str, ModelPrice] = {
    "gpt-4o-mini": ModelPrice(prompt=0.15, completion=0.60),
    "gpt-4o": ModelPrice(prompt=2.50, completion=10.00),
    "gpt-4.1-mini": ModelPrice(prompt=0.40, completion=1.60),
    "gpt-4.1-nano": ModelPrice(prompt=0.10, completion=0.40),
    "local": ModelPrice(prompt=0.0, completion=0.0),
}


class AnalysisSettings(CommonSettings):
    service_name: str = "analysis"
    http_port: int = Field(default=8003, ge=1, le=65535)
    ops_port: int = Field(default=9103, ge=1, le=65535)

    llm_provider: LLMProvider = LLMProvider.LOCAL
    analysis_mode: AnalysisMode = AnalysisMode.REALTIME
    openai_api_key: SecretStr | None = None
    openai_base_url: str | None = None
    openai_model: str = "gpt-4o-mini"
    openai_timeout_s: float = Field(default=60.0, gt=0)
    # Strict json_schema output; set False for compatible servers that only know json_object.
    openai_structured_output: bool = True

    # Named like the other services' groups; the topic suffix is appended (see consumer_group).
    analysis_consumer_group: str = "docflow-analysis"
    # A poll of records: held (uncommitted) while the limiter is saturated, so this bounds memory.
    consumer_max_records: int = Field(default=64, ge=1, le=1000)
    consumer_batch_timeout_ms: int = Field(default=500, ge=0)
    prompt_version: str = Field(default="v1", min_length=1, pattern=r"^[A-Za-z0-9._-]+$")

    # Packing documents into one chat request.
    max_documents_per_request: int = Field(default=16, ge=1, le=100)
    max_tokens_per_request: int = Field(default=8000, ge=500)
    completion_tokens_per_document: int = Field(default=300, ge=50)
    max_document_tokens: int = Field(default=3000, ge=100)
    max_concurrent_requests: int = Field(default=8, ge=1)

    # Client-side limiter (corrected from the x-ratelimit-* headers).
    rate_limit_rpm: int = Field(default=500, ge=1)
    rate_limit_tpm: int = Field(default=200_000, ge=1)

    # One retry policy for 5xx, timeouts, connection errors and invalid per-document results.
    retry_attempts: int = Field(default=4, ge=1)
    retry_base_delay_s: float = Field(default=0.5, ge=0)
    retry_max_delay_s: float = Field(default=20.0, ge=0)

    quota_probe_interval_s: float = Field(default=30.0, gt=0)
    # A tenant's documents are deferred once it used this many tokens today (UTC); 0 = no limit.
    tenant_daily_token_budget: int = Field(default=0, ge=0)
    # What the provider may cost per UTC day across all tenants and replicas, in USD (the
    # price table's estimate). Required in production, so a runaway never bills unbounded.
    llm_spend_cap_usd_per_day: float | None = Field(default=None, gt=0)
    prices: dict[str, ModelPrice] = Field(default_factory=lambda: dict(DEFAULT_PRICES))
    shutdown_timeout_s: float = Field(default=20.0, gt=0)

    # ANALYSIS_MODE=batch (the OpenAI Batch API, for backfills): how often to collect finished
    # batch jobs and submit a new one, and how many documents one job takes.
    batch_poll_interval_s: float = Field(default=30.0, gt=0)
    batch_max_documents: int = Field(default=5000, ge=1)
    # The Batch API bills half the real-time price.
    batch_price_factor: float = Field(default=0.5, ge=0, le=1)

    @field_validator(
        "openai_base_url", "openai_api_key", "llm_spend_cap_usd_per_day", mode="before"
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        """`OPENAI_BASE_URL=` in a .env file means the SDK default, not an empty URL."""
        return None if isinstance(value, str) and not value.strip() else value

    @model_validator(mode="after")
    def _production_caps_spend(self) -> AnalysisSettings:
        if self.is_production and self.llm_spend_cap_usd_per_day is None:
            raise ValueError("LLM_SPEND_CAP_USD_PER_DAY is required in production")
        return self

    @model_validator(mode="after")
    def _openai_needs_a_real_key(self) -> AnalysisSettings:
        if self.llm_provider is not LLMProvider.OPENAI:
            if self.analysis_mode is AnalysisMode.BATCH_API:
                raise ValueError("ANALYSIS_MODE=batch needs LLM_PROVIDER=openai")
            return self
        if self.openai_api_key is None:
            raise ValueError("OPENAI_API_KEY is required when LLM_PROVIDER=openai")
        if not self.is_development and is_placeholder(self.openai_api_key.get_secret_value()):
            raise ValueError("OPENAI_API_KEY holds a placeholder value outside development")
        return self

    @property
    def consumer_group(self) -> str:
        """The group id: tests (and parallel deployments) with a topic suffix get their own."""
        return f"{self.analysis_consumer_group}{self.kafka_topic_suffix}"

    def price_of(self, *, model: str, prompt_tokens: int, completion_tokens: int) -> float:
        """Estimated cost in USD; an unknown model costs 0 (and is visible as such)."""
        price = self.prices.get(model)
        if price is None:
            return 0.0
        return (prompt_tokens * price.prompt + completion_tokens * price.completion) / 1_000_000

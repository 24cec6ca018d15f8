"""Settings shared by every service, read from the environment and `.env` files.

The environment wins over `.env`. A bad value stops the process at startup with one line
naming the variable (see `load_settings`), never a traceback in the middle of a request.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Annotated, Literal, TypeVar

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from docflow.common.events import Topic
from docflow.common.production import kafka_credential_problems, production_problems


class AppEnv(StrEnum):
    DEVELOPMENT = "development"
    STAGING = "staging"
    PRODUCTION = "production"


class LogBodies(StrEnum):
    """Which requests have their bodies logged (http_bodies.py)."""

    OFF = "off"
    ERRORS = "errors"  # a 4xx or 5xx answer
    ALL = "all"


# Matched against JSON field and header names (lower case, without `_` and `-`, by suffix:
# `token` also hides `access_token`). `content` is a document's text.
DEFAULT_REDACTED_FIELDS = [
    "authorization",
    "api_key",
    "password",
    "token",
    "secret",
    "credentials",
    "private_key",
    "content",
    "cookie",
]


class KafkaSecurityProtocol(StrEnum):
    PLAINTEXT = "PLAINTEXT"
    SSL = "SSL"
    SASL_PLAINTEXT = "SASL_PLAINTEXT"
    SASL_SSL = "SASL_SSL"

    @property
    def uses_sasl(self) -> bool:
        return self.value.startswith("SASL_")

    @property
    def uses_tls(self) -> bool:
        return self.value.endswith("SSL")


class KafkaSaslMechanism(StrEnum):
    SCRAM_SHA_512 = "SCRAM-SHA-512"
    SCRAM_SHA_256 = "SCRAM-SHA-256"
    PLAIN = "PLAIN"


class CommonSettings(BaseSettings):
    """What every docflow service reads. Services subclass it and add their own fields."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", validate_default=True
    )

    service_name: str = "docflow"
    app_env: AppEnv = AppEnv.DEVELOPMENT
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8000, ge=1, le=65535)
    # /health/ready, /health/detailed and /metrics answer only here (CONTRACT.md: 9101-9103).
    ops_port: int = Field(default=9100, ge=1, le=65535)
    # Proxies whose X-Forwarded-For/-Proto are believed (uvicorn's list: IPs, CIDRs or "*").
    # Empty: no proxy is trusted and the client address is the TCP peer.
    forwarded_allow_ips: str = ""
    # /docs, /redoc and /openapi.json; unset means on outside production, off in production.
    api_docs_public: bool | None = None

    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    kafka_security_protocol: KafkaSecurityProtocol = KafkaSecurityProtocol.PLAINTEXT
    kafka_sasl_mechanism: KafkaSaslMechanism = KafkaSaslMechanism.SCRAM_SHA_512
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    # CA bundle that signed the brokers' certificates (default: the system's trust store).
    kafka_ssl_cafile: str | None = None
    # A client certificate and its key, for brokers that authenticate clients by TLS (SSL).
    kafka_ssl_certfile: str | None = None
    kafka_ssl_keyfile: str | None = None
    # Appended to every topic name; tests set it so that runs never see each other's messages.
    kafka_topic_suffix: str = ""
    kafka_topic_partitions: int = Field(default=6, ge=1)
    kafka_replication_factor: int = Field(default=1, ge=1)
    # How often a consuming service reads its group's lag from Kafka (docflow.common.lag).
    consumer_lag_interval_s: float = Field(default=15.0, gt=0)

    mongodb_uri: SecretStr = SecretStr("mongodb://127.0.0.1:27017")
    mongodb_database: str = Field(default="docflow", min_length=1, max_length=63)
    mongodb_max_pool_size: int = Field(default=100, ge=1)
    mongodb_timeout_ms: int = Field(default=5000, ge=100)
    # A pooled connection idle this long is closed: a burst's extra connections do not stay open
    # (and hold memory and descriptors) for the life of the process.
    mongodb_max_idle_s: int = Field(default=60, ge=1)

    redis_url: SecretStr = SecretStr("redis://127.0.0.1:6379/0")
    redis_max_connections: int = Field(default=256, ge=1)
    redis_timeout_s: float = Field(default=1.0, gt=0)
    # Every Redis key starts with it; tests set a unique one so runs never share keys.
    redis_key_prefix: str = "docflow"

    cors_origins: Annotated[list[str], NoDecode] = ["http://localhost:3000"]
    rate_limit_enabled: bool = True
    rate_limit_default: str = "1200/minute"
    health_check_timeout_s: float = Field(default=2.0, gt=0)
    # On SIGTERM uvicorn stops accepting and waits this long for requests in flight, then runs
    # the shutdown (closing the consumers, flushing the outbox). deploy/k8s sizes
    # terminationGracePeriodSeconds from it.
    graceful_shutdown_s: int = Field(default=30, ge=1)
    # How long an idle keep-alive connection stays open. Longer than a load balancer's idle
    # timeout (60 s is common): a server that closes first races the client's next request on
    # that connection, which then fails without an answer.
    http_keep_alive_s: int = Field(default=75, ge=1)
    # API keys (docflow.common.identity): a verified key is cached in each process this long,
    # so a revocation takes effect within it; a rejected one for the shorter negative TTL.
    auth_cache_ttl_s: float = Field(default=30.0, gt=0, le=300)
    auth_negative_ttl_s: float = Field(default=5.0, ge=0, le=60)
    auth_cache_size: int = Field(default=10_000, ge=1)
    # Failed authentications allowed per client address and minute, per process.
    auth_failures_per_minute: int = Field(default=30, ge=1)
    # Optional OIDC: bearer JWTs verified against this JWKS (off while it is unset).
    oidc_jwks_url: str | None = None
    oidc_issuer: str | None = None
    oidc_audience: str | None = None
    oidc_tenant_claim: str = "tenant"
    access_log: bool = True
    # Unset: errors in development; off in staging and production, whose requests carry real
    # documents and whose logs travel further (an operator turns it on for a while).
    log_bodies: LogBodies | None = None
    log_body_max_bytes: int = Field(default=2048, ge=64, le=1 << 20)
    log_redact_fields: Annotated[list[str], NoDecode] = DEFAULT_REDACTED_FIELDS

    @field_validator("cors_origins", "log_redact_fields", mode="before")
    @classmethod
    def _split_list(cls, value: object) -> object:
        """Accept a JSON list or a comma-separated string."""
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [origin.strip() for origin in text.split(",") if origin.strip()]
        return value

    @field_validator(
        "kafka_sasl_username",
        "kafka_sasl_password",
        "kafka_ssl_cafile",
        "kafka_ssl_certfile",
        "kafka_ssl_keyfile",
        "api_docs_public",
        "log_bodies",
        mode="before",
    )
    @classmethod
    def _blank_means_unset(cls, value: object) -> object:
        """`KAFKA_SASL_USERNAME=` in a .env file means unset, not an empty name.

        (Not named like AnalysisSettings' validator: a subclass method of the same name
        would replace this one.)"""
        return None if isinstance(value, str) and not value.strip() else value

    @model_validator(mode="after")
    def _refuse_unsafe_values(self) -> CommonSettings:
        problems = []
        if self.app_env is not AppEnv.DEVELOPMENT and "*" in self.cors_origins:
            problems.append("CORS_ORIGINS may not contain '*' outside development")
        if self.ops_port == self.http_port:
            problems.append("OPS_PORT must differ from HTTP_PORT")
        problems += kafka_credential_problems(self)
        if self.app_env is AppEnv.PRODUCTION:
            problems += production_problems(self)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @model_validator(mode="after")
    def _oidc_needs_issuer_and_audience(self) -> CommonSettings:
        if self.oidc_jwks_url and not (self.oidc_issuer and self.oidc_audience):
            # Without them, any token the provider signs (for any application) would pass.
            raise ValueError("OIDC_JWKS_URL needs OIDC_ISSUER and OIDC_AUDIENCE")
        return self

    @property
    def is_development(self) -> bool:
        return self.app_env is AppEnv.DEVELOPMENT

    @property
    def is_production(self) -> bool:
        return self.app_env is AppEnv.PRODUCTION

    @property
    def docs_public(self) -> bool:
        """Whether /docs, /redoc and /openapi.json are served (API_DOCS_PUBLIC)."""
        if self.api_docs_public is None:
            return not self.is_production
        return self.api_docs_public

    @property
    def body_logging(self) -> LogBodies:
        """Whose bodies are logged (LOG_BODIES, or the default of APP_ENV)."""
        if self.log_bodies is None:
            return LogBodies.ERRORS if self.is_development else LogBodies.OFF
        return self.log_bodies

    def topic(self, topic: Topic) -> str:
        """The real topic name for this deployment (the contract name plus the suffix)."""
        return f"{topic.value}{self.kafka_topic_suffix}"


SettingsT = TypeVar("SettingsT", bound=CommonSettings)


class SettingsError(SystemExit):
    """Raised at startup when a setting is missing or invalid; its text names the variable."""


def load_settings(settings_cls: type[SettingsT]) -> SettingsT:
    """Build the settings or stop with one clear line naming every bad variable."""
    try:
        return settings_cls()
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_input=False, include_url=False):
            variable = "_".join(str(part) for part in error["loc"]).upper()
            if variable:
                problems.append(f"{variable}: {error['msg']}")
            else:
                # A rule across settings: its message names the variables itself.
                problems.append(str(error.get("ctx", {}).get("error", error["msg"])))
        raise SettingsError(f"invalid configuration: {'; '.join(problems)}") from None

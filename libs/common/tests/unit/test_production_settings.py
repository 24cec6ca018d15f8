"""APP_ENV=production refuses every unsafe value with one message naming the setting."""

from __future__ import annotations

import pytest

from docflow.common.settings import (
    CommonSettings,
    KafkaSecurityProtocol,
    SettingsError,
    load_settings,
)
from docflow.testing.production import SAFE_PRODUCTION

pytestmark = pytest.mark.unit


@pytest.fixture
def production(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """The environment of a safe production deployment; each test breaks one rule."""
    for name, value in SAFE_PRODUCTION.items():
        monkeypatch.setenv(name, value)
    return monkeypatch


def refusal(monkeypatch: pytest.MonkeyPatch, **changes: str | None) -> str:
    for name, value in changes.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as raised:
        load_settings(CommonSettings)
    message = str(raised.value)
    assert "\n" not in message
    assert "s3cr3t" not in message, "a secret leaked"
    assert "hunter2" not in message, "a secret leaked"
    return message


def test_a_safe_production_configuration_starts(production: pytest.MonkeyPatch) -> None:
    settings = load_settings(CommonSettings)
    assert settings.is_production
    assert settings.kafka_security_protocol is KafkaSecurityProtocol.SASL_SSL
    assert settings.docs_public is False


# One row per rule: the variable that breaks it, its unsafe value, the message expected.
REFUSALS = {
    "mongodb-no-userinfo": (
        "MONGODB_URI",
        "mongodb://db:27017/?tls=true",
        "MONGODB_URI must carry credentials",
    ),
    "mongodb-no-password": (
        "MONGODB_URI",
        "mongodb://docflow@db:27017/?tls=true",
        "MONGODB_URI must carry credentials",
    ),
    "mongodb-placeholder": (
        "MONGODB_URI",
        "mongodb://docflow:CHANGEME@db:27017/?tls=true",
        "MONGODB_URI holds a placeholder password",
    ),
    "mongodb-no-tls": (
        "MONGODB_URI",
        "mongodb://docflow:hunter2@db:27017/",
        "MONGODB_URI must use TLS",
    ),
    "mongodb-srv-tls-off": (
        "MONGODB_URI",
        "mongodb+srv://docflow:hunter2@cluster/?tls=false",
        "MONGODB_URI must use TLS",
    ),
    "mongodb-no-certificate-checks": (
        "MONGODB_URI",
        "mongodb://docflow:hunter2@db:27017/?tls=true&tlsAllowInvalidCertificates=true",
        "MONGODB_URI may not disable certificate checks",
    ),
    "redis-no-tls": (
        "REDIS_URL",
        "redis://:hunter2@cache:6379/0",
        "REDIS_URL must use TLS (rediss://) in production",
    ),
    "redis-no-password": (
        "REDIS_URL",
        "rediss://cache:6380/0",
        "REDIS_URL must carry a password",
    ),
    "redis-placeholder": (
        "REDIS_URL",
        "rediss://:changeme@cache:6380/0",
        "REDIS_URL holds a placeholder password",
    ),
    "redis-no-certificate-checks": (
        "REDIS_URL",
        "rediss://:hunter2@cache:6380/0?ssl_cert_reqs=none",
        "REDIS_URL may not disable certificate checks",
    ),
    "kafka-plaintext": (
        "KAFKA_SECURITY_PROTOCOL",
        "PLAINTEXT",
        "KAFKA_SECURITY_PROTOCOL must be SASL_SSL",
    ),
    "kafka-sasl-without-tls": (
        "KAFKA_SECURITY_PROTOCOL",
        "SASL_PLAINTEXT",
        "KAFKA_SECURITY_PROTOCOL must be SASL_SSL",
    ),
    "kafka-tls-without-client-certificate": (
        "KAFKA_SECURITY_PROTOCOL",
        "SSL",
        "KAFKA_SSL_CERTFILE and KAFKA_SSL_KEYFILE are required",
    ),
    "kafka-no-password": (
        "KAFKA_SASL_PASSWORD",
        "",
        "KAFKA_SASL_PASSWORD is required with SASL_SSL",
    ),
    "kafka-placeholder": (
        "KAFKA_SASL_PASSWORD",
        "CHANGEME",
        "KAFKA_SASL_PASSWORD holds a placeholder value",
    ),
    "cors-wildcard": ("CORS_ORIGINS", "*", "CORS_ORIGINS may not contain '*'"),
}


@pytest.mark.parametrize(("variable", "value", "expected"), REFUSALS.values(), ids=REFUSALS)
def test_each_unsafe_value_is_refused_with_one_message_naming_it(
    production: pytest.MonkeyPatch, variable: str, value: str, expected: str
) -> None:
    message = refusal(production, **{variable: value})
    assert message.startswith(f"invalid configuration: {expected}")
    assert ";" not in message, "one rule broken, one message"


def test_mongodb_certificate_authentication_needs_no_password(
    production: pytest.MonkeyPatch,
) -> None:
    production.setenv("MONGODB_URI", "mongodb://db:27017/?tls=true&authMechanism=MONGODB-X509")
    assert load_settings(CommonSettings).is_production


def test_mongodb_srv_uses_tls_by_default(production: pytest.MonkeyPatch) -> None:
    production.setenv("MONGODB_URI", "mongodb+srv://docflow:hunter2@cluster.example/")
    assert load_settings(CommonSettings).is_production


def test_kafka_tls_with_a_client_certificate_starts(production: pytest.MonkeyPatch) -> None:
    production.setenv("KAFKA_SECURITY_PROTOCOL", "SSL")
    production.setenv("KAFKA_SSL_CERTFILE", "/etc/docflow/kafka.crt")
    production.setenv("KAFKA_SSL_KEYFILE", "/etc/docflow/kafka.key")
    assert load_settings(CommonSettings).kafka_security_protocol is KafkaSecurityProtocol.SSL


def test_kafka_sasl_needs_a_user_in_every_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    message = refusal(monkeypatch, KAFKA_SECURITY_PROTOCOL="SASL_PLAINTEXT")
    assert "KAFKA_SASL_USERNAME is required with SASL_PLAINTEXT" in message


def test_every_problem_is_listed_at_once(production: pytest.MonkeyPatch) -> None:
    message = refusal(production, REDIS_URL="redis://cache:6379/0", CORS_ORIGINS="*")
    assert "CORS_ORIGINS" in message
    assert "REDIS_URL must use TLS" in message
    assert "REDIS_URL must carry a password" in message


def test_api_docs_are_off_in_production_unless_a_setting_says_so(
    production: pytest.MonkeyPatch,
) -> None:
    assert load_settings(CommonSettings).docs_public is False
    production.setenv("API_DOCS_PUBLIC", "true")
    assert load_settings(CommonSettings).docs_public is True


def test_api_docs_are_public_outside_production_unless_turned_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert load_settings(CommonSettings).docs_public is True
    monkeypatch.setenv("API_DOCS_PUBLIC", "false")
    assert load_settings(CommonSettings).docs_public is False


def test_development_accepts_the_local_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings(CommonSettings)
    assert settings.kafka_security_protocol is KafkaSecurityProtocol.PLAINTEXT
    assert settings.forwarded_allow_ips == ""


def test_the_operations_port_differs_from_the_api_port(monkeypatch: pytest.MonkeyPatch) -> None:
    message = refusal(monkeypatch, HTTP_PORT="9100", OPS_PORT="9100")
    assert "OPS_PORT must differ from HTTP_PORT" in message

"""The Kafka, Redis and MongoDB security settings reach the clients unchanged."""

from __future__ import annotations

import ssl

import pytest
from faststream.security import SASLScram256, SASLScram512
from pydantic import SecretStr
from redis.asyncio.connection import SSLConnection

from docflow.common.clients import (
    create_mongo_client,
    create_redis,
    kafka_connection_options,
    kafka_security,
)
from docflow.common.settings import CommonSettings, KafkaSaslMechanism, KafkaSecurityProtocol

pytestmark = pytest.mark.unit


def sasl_settings(protocol: KafkaSecurityProtocol, **extra: object) -> CommonSettings:
    return CommonSettings(
        kafka_bootstrap_servers="broker-1:9094,broker-2:9094",
        kafka_security_protocol=protocol,
        kafka_sasl_username="docflow",
        kafka_sasl_password=SecretStr("s3cret"),
        **extra,  # type: ignore[arg-type]
    )


def test_plaintext_kafka_needs_no_security_options() -> None:
    settings = CommonSettings()
    assert kafka_security(settings) is None
    assert kafka_connection_options(settings) == {"bootstrap_servers": "127.0.0.1:9092"}


def test_sasl_ssl_passes_scram_512_credentials_and_a_verifying_tls_context() -> None:
    options = kafka_connection_options(sasl_settings(KafkaSecurityProtocol.SASL_SSL))
    context = options.pop("ssl_context")
    assert options == {
        "bootstrap_servers": "broker-1:9094,broker-2:9094",
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "docflow",
        "sasl_plain_password": "s3cret",
    }
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode is ssl.CERT_REQUIRED
    assert context.check_hostname is True


def test_the_broker_gets_the_same_security_as_the_bare_clients() -> None:
    settings = sasl_settings(
        KafkaSecurityProtocol.SASL_PLAINTEXT, kafka_sasl_mechanism=KafkaSaslMechanism.SCRAM_SHA_256
    )
    security = kafka_security(settings)
    assert isinstance(security, SASLScram256)
    assert security.use_ssl is False
    assert kafka_connection_options(settings)["security_protocol"] == "SASL_PLAINTEXT"
    scram_512 = kafka_security(sasl_settings(KafkaSecurityProtocol.SASL_SSL))
    assert isinstance(scram_512, SASLScram512)
    assert scram_512.use_ssl is True


def test_tls_without_sasl_uses_ssl_with_the_configured_ca() -> None:
    settings = CommonSettings(
        kafka_security_protocol=KafkaSecurityProtocol.SSL,
        kafka_ssl_cafile=ssl.get_default_verify_paths().cafile,
    )
    options = kafka_connection_options(settings)
    assert options["security_protocol"] == "SSL"
    assert isinstance(options["ssl_context"], ssl.SSLContext)


def test_rediss_urls_connect_over_tls() -> None:
    redis = create_redis(
        CommonSettings(redis_url=SecretStr("rediss://:pw@cache:6380/0?ssl_cert_reqs=required"))
    )
    assert redis.connection_pool.connection_class is SSLConnection


async def test_mongodb_tls_options_of_the_uri_reach_the_client() -> None:
    # Development only: production refuses this option (see test_production_settings).
    uri = "mongodb://u:p@db:27017/?tls=true&tlsAllowInvalidHostnames=true"
    client = create_mongo_client(CommonSettings(mongodb_uri=SecretStr(uri)))
    try:
        assert client.options.pool_options.tls_allow_invalid_hostnames is True
    finally:
        await client.close()


def test_idle_mongodb_connections_are_closed_after_a_minute() -> None:
    # A burst grew query's pool by ~100 connections that stayed open for good (make soak).
    client = create_mongo_client(CommonSettings())
    assert client.options.pool_options.max_idle_time_seconds == 60

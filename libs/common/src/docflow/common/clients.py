"""Factories for the clients every service holds for its lifetime (created in the lifespan).

Each client pools its connections; nothing here does I/O until first use.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, TopicAlreadyExistsError
from faststream.kafka import KafkaBroker
from faststream.kafka.security import parse_security
from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import ConnectionFailure, PyMongoError
from redis.asyncio import Redis

from docflow.common.settings import CommonSettings, KafkaSaslMechanism
from docflow.common.telemetry import broker_middlewares

logger = logging.getLogger(__name__)

MongoDocument = dict[str, Any]


def create_mongo_client(
    settings: CommonSettings, *, server_selection_timeout_ms: int | None = None
) -> AsyncMongoClient[MongoDocument]:
    """`server_selection_timeout_ms` (default: `mongodb_timeout_ms`) bounds how long an
    operation waits for a reachable server, apart from the operation's own budget."""
    return AsyncMongoClient(
        settings.mongodb_uri.get_secret_value(),
        appname=settings.service_name,
        maxPoolSize=settings.mongodb_max_pool_size,
        maxIdleTimeMS=settings.mongodb_max_idle_s * 1000,
        serverSelectionTimeoutMS=server_selection_timeout_ms or settings.mongodb_timeout_ms,
        connectTimeoutMS=settings.mongodb_timeout_ms,
        timeoutMS=settings.mongodb_timeout_ms * 2,
        tz_aware=True,
    )


def mongo_database(
    client: AsyncMongoClient[MongoDocument], settings: CommonSettings
) -> AsyncDatabase[MongoDocument]:
    return client[settings.mongodb_database]


def is_mongo_outage(exc: PyMongoError) -> bool:
    """True when MongoDB cannot be reached, as opposed to refusing the operation.

    ConnectionFailure covers ServerSelectionTimeoutError, AutoReconnect and NetworkTimeout;
    an operation that ran out of its `timeoutMS` budget has `timeout` set.
    """
    return isinstance(exc, ConnectionFailure) or bool(getattr(exc, "timeout", False))


def create_redis(settings: CommonSettings) -> Redis:
    return Redis.from_url(
        settings.redis_url.get_secret_value(),
        max_connections=settings.redis_max_connections,
        socket_timeout=settings.redis_timeout_s,
        socket_connect_timeout=settings.redis_timeout_s,
        health_check_interval=30,
    )


_SASL = {
    KafkaSaslMechanism.SCRAM_SHA_512: SASLScram512,
    KafkaSaslMechanism.SCRAM_SHA_256: SASLScram256,
    KafkaSaslMechanism.PLAIN: SASLPlaintext,
}


def kafka_security(settings: CommonSettings) -> BaseSecurity | None:
    """The KAFKA_SECURITY_PROTOCOL/SASL/SSL settings as FastStream's security object."""
    protocol = settings.kafka_security_protocol
    context = None
    if protocol.uses_tls:
        context = ssl.create_default_context(cafile=settings.kafka_ssl_cafile)
        if settings.kafka_ssl_certfile:
            context.load_cert_chain(settings.kafka_ssl_certfile, settings.kafka_ssl_keyfile)
    if protocol.uses_sasl:
        password = settings.kafka_sasl_password
        return _SASL[settings.kafka_sasl_mechanism](
            username=settings.kafka_sasl_username or "",
            password=password.get_secret_value() if password else "",
            ssl_context=context,
            use_ssl=protocol.uses_tls,
        )
    return BaseSecurity(ssl_context=context) if context is not None else None


def kafka_connection_options(settings: CommonSettings) -> dict[str, Any]:
    """The same settings as aiokafka keyword arguments (producers, consumers, admin clients),
    translated by FastStream's own rule so that both kinds of client connect alike."""
    return {"bootstrap_servers": settings.kafka_bootstrap_servers} | parse_security(
        kafka_security(settings)
    )


def create_broker(settings: CommonSettings, **options: Any) -> KafkaBroker:
    """A broker whose producer waits for every in-sync replica and never writes a duplicate,
    traced (W3C context in the headers of what it publishes and reads) when tracing is on."""
    return KafkaBroker(
        settings.kafka_bootstrap_servers,
        client_id=settings.service_name,
        acks="all",
        enable_idempotence=True,
        security=kafka_security(settings),
        logger=logging.getLogger(f"docflow.{settings.service_name}.kafka"),
        middlewares=broker_middlewares(),
        **options,
    )


def create_producer(settings: CommonSettings, **options: Any) -> AIOKafkaProducer:
    """A bare aiokafka producer with the broker's guarantees, for a path too hot for FastStream."""
    return AIOKafkaProducer(
        **kafka_connection_options(settings),
        client_id=settings.service_name,
        acks="all",
        enable_idempotence=True,
        **options,
    )


async def ensure_topics(
    settings: CommonSettings, topics: list[str], *, attempts: int = 30, delay_s: float = 1.0
) -> None:
    """Create the topics this service uses if they are missing (idempotent).

    Retries while the broker is still starting, so a service launched together with Kafka
    waits for it instead of crashing.
    """
    for attempt in range(1, attempts + 1):
        admin = AIOKafkaAdminClient(**kafka_connection_options(settings))
        try:
            await admin.start()
            existing = set(await admin.list_topics())
            missing = [
                NewTopic(name, settings.kafka_topic_partitions, settings.kafka_replication_factor)
                for name in topics
                if name not in existing
            ]
            if missing:
                # Another replica may create the same topic first.
                with contextlib.suppress(TopicAlreadyExistsError):
                    await admin.create_topics(missing)
            return
        except (KafkaConnectionError, OSError) as exc:
            if attempt == attempts:
                raise
            logger.warning("kafka not ready (%s), retrying", type(exc).__name__)
            await asyncio.sleep(delay_s)
        finally:
            await admin.close()

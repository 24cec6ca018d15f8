"""docflow's Kafka clients authenticate with SASL/SCRAM-SHA-512 against a real broker.

A private single-node KRaft broker (the jars deploy/local/install.sh fetched) listens with
SASL_PLAINTEXT only and knows two SCRAM users, written at format time (`--add-scram`). The
shared broker on 9092 is never touched. Starting a JVM takes a while: one broker per module.
"""

from __future__ import annotations

import asyncio
import base64
import os
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka.errors import KafkaError
from faststream.kafka import KafkaMessage
from pydantic import SecretStr

from docflow.common.clients import create_broker, create_producer, ensure_topics
from docflow.common.settings import CommonSettings, KafkaSecurityProtocol
from docflow.testing import OwnServer, free_port
from docflow.testing.servers import REPO

pytestmark = [pytest.mark.integration, pytest.mark.slow]

KAFKA_LIBS = (
    Path(os.environ.get("DOCFLOW_CACHE", REPO / ".cache"))
    / f"kafka-{os.environ.get('KAFKA_VERSION', '4.4.0')}"
    / "libs"
)
ADMIN = ("admin", "admin-" + secrets.token_hex(8))
CLIENT = ("docflow", "docflow-" + secrets.token_hex(8))


def _server_properties(workdir: Path, *, port: int, controller_port: int) -> str:
    admin_user, admin_password = ADMIN
    jaas = (
        "org.apache.kafka.common.security.scram.ScramLoginModule required "
        f'username="{admin_user}" password="{admin_password}";'
    )
    return "\n".join(
        [
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.voters=1@127.0.0.1:{controller_port}",
            f"listeners=SASL_PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
            f"advertised.listeners=SASL_PLAINTEXT://127.0.0.1:{port}",
            "controller.listener.names=CONTROLLER",
            "inter.broker.listener.name=SASL_PLAINTEXT",
            "listener.security.protocol.map=CONTROLLER:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT",
            "sasl.enabled.mechanisms=SCRAM-SHA-512",
            "sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512",
            f"listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config={jaas}",
            f"log.dirs={workdir / 'logs'}",
            "offsets.topic.replication.factor=1",
            "offsets.topic.num.partitions=1",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "share.coordinator.state.topic.replication.factor=1",
            "share.coordinator.state.topic.min.isr=1",
            "group.initial.rebalance.delay.ms=0",
            "auto.create.topics.enable=false",
        ]
    )


@pytest.fixture(scope="module")
def sasl_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OwnServer]:
    if not (KAFKA_LIBS / ".complete").exists():
        pytest.fail(f"Kafka jars missing in {KAFKA_LIBS}: run deploy/local/install.sh")
    workdir = tmp_path_factory.mktemp("kafka-sasl")
    port, controller_port = free_port(), free_port()
    config = workdir / "server.properties"
    config.write_text(_server_properties(workdir, port=port, controller_port=controller_port))
    classpath = f"{KAFKA_LIBS}/*"
    cluster_id = base64.urlsafe_b64encode(secrets.token_bytes(16)).decode().rstrip("=")
    cluster_id = "A" + cluster_id[1:]  # never a leading "-"
    scram = [
        f"SCRAM-SHA-512=[name={user},password={password}]" for user, password in (ADMIN, CLIENT)
    ]
    subprocess.run(
        ["java", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-cp", classpath]
        + ["kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(config)]
        + [argument for entry in scram for argument in ("--add-scram", entry)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    command = ["java", "-Xms128m", "-Xmx384m", "-XX:+UseSerialGC", "-cp", classpath]
    command += ["kafka.Kafka", str(config)]
    broker = OwnServer("kafka-sasl", command, port=port, log_path=workdir / "kafka.log")
    broker.start(timeout_s=120)
    yield broker
    broker.stop()


def settings_for(
    broker: OwnServer, *, password: str = CLIENT[1], suffix: str = ""
) -> CommonSettings:
    return CommonSettings(
        kafka_bootstrap_servers=f"127.0.0.1:{broker.port}",
        kafka_security_protocol=KafkaSecurityProtocol.SASL_PLAINTEXT,
        kafka_sasl_username=CLIENT[0],
        kafka_sasl_password=SecretStr(password),
        kafka_topic_suffix=suffix,
        kafka_topic_partitions=1,
    )


async def test_admin_producer_and_broker_authenticate_with_scram_sha_512(
    sasl_kafka: OwnServer,
) -> None:
    settings = settings_for(sasl_kafka, suffix=f".{secrets.token_hex(4)}")
    topic = f"sasl.test{settings.kafka_topic_suffix}"
    await ensure_topics(settings, [topic], attempts=60, delay_s=1.0)

    producer = create_producer(settings)
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"from the bare producer")
    finally:
        await producer.stop()

    received: list[bytes] = []
    done = asyncio.Event()
    broker = create_broker(settings)

    # A new group starts at the beginning, so it also sees what the bare producer wrote.
    @broker.subscriber(
        topic, group_id=f"sasl-test{settings.kafka_topic_suffix}", auto_offset_reset="earliest"
    )
    async def collect(message: KafkaMessage) -> None:
        received.append(message.body)
        if len(received) == 2:
            done.set()

    await broker.start()
    try:
        await broker.publish(b"from the faststream broker", topic)
        await asyncio.wait_for(done.wait(), timeout=60)
    finally:
        await broker.stop()
    assert sorted(received) == [b"from the bare producer", b"from the faststream broker"]


async def test_a_wrong_password_is_refused(sasl_kafka: OwnServer) -> None:
    settings = settings_for(sasl_kafka, password="not-the-password")
    producer = create_producer(settings, request_timeout_ms=10_000)
    with pytest.raises(KafkaError):
        await asyncio.wait_for(producer.start(), timeout=60)
    await producer.stop()

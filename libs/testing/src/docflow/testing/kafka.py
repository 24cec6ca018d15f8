"""Reading and writing test topics with a plain aiokafka client, as an outside system would."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord

BOOTSTRAP = "127.0.0.1:9092"


async def produce_raw(
    topic: str,
    values: Iterable[bytes],
    *,
    headers: list[tuple[str, bytes]] | None = None,
    partition: int | None = None,
    bootstrap: str = BOOTSTRAP,
) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for value in values:
            await producer.send_and_wait(topic, value, headers=headers, partition=partition)
    finally:
        await producer.stop()


async def collect_messages(
    topic: str, *, count: int, timeout_s: float = 30.0, bootstrap: str = BOOTSTRAP
) -> list[ConsumerRecord[bytes, bytes]]:
    """Read a topic from the beginning until `count` messages arrived or the time is up."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
    )
    await consumer.start()
    records: list[ConsumerRecord[bytes, bytes]] = []
    deadline = time.monotonic() + timeout_s
    try:
        while len(records) < count and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for partition_records in batch.values():
                records.extend(partition_records)
            await asyncio.sleep(0)
    finally:
        await consumer.stop()
    return records

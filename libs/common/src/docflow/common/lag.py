"""Consumer lag per group and partition, read from Kafka every few seconds off the hot path.

Lag is the log end offset minus the group's committed offset: the messages the group has not
yet finished with. A partition the group never committed counts from the start of its log, as
every docflow subscriber starts there (`auto_offset_reset="earliest"`).

Each replica of a consuming service exports the lag of its whole group, not only of the
partitions assigned to it: a partition nobody owns (every replica down, stuck, or rebalancing)
is the one whose lag grows, and a consumer-side export would report nothing for it. Replicas
report the same numbers; alerts and dashboards take the max over replicas. The cost is four small
requests to Kafka per replica every `CONSUMER_LAG_INTERVAL_S`, none on a message's path.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from aiokafka.structs import OffsetAndMetadata

from docflow.common.clients import kafka_connection_options
from docflow.common.metrics import CONSUMER_LAG, CONSUMER_LAG_UPDATED
from docflow.common.settings import CommonSettings
from docflow.common.tasks import cancel_requested

logger = logging.getLogger(__name__)

# A fresh broker answers "coordinator not available" until its offsets topic exists: a reading
# waits that out (briefly) rather than reporting nothing for an interval.
_COORDINATOR_ATTEMPTS = 10
_COORDINATOR_RETRY_S = 0.5


def lag_of(
    *,
    end: Mapping[TopicPartition, int],
    beginning: Mapping[TopicPartition, int],
    committed: Mapping[TopicPartition, int],
) -> dict[TopicPartition, int]:
    """Per partition: end minus committed (minus the log's start when nothing is committed)."""
    lag = {}
    for partition, end_offset in end.items():
        position = committed.get(partition, -1)
        if position < 0:
            position = beginning.get(partition, 0)
        lag[partition] = max(end_offset - position, 0)
    return lag


class ConsumerLagExporter:
    """Sets `docflow_kafka_consumer_lag` for one group's topics until shutdown cancels it."""

    def __init__(self, settings: CommonSettings, *, group: str, topics: Sequence[str]) -> None:
        self.group = group
        self.topics = list(topics)
        self.interval_s = settings.consumer_lag_interval_s
        options = kafka_connection_options(settings)
        client_id = f"{settings.service_name}-lag"
        # No group: this consumer only asks for offsets, it never joins or commits.
        self._offsets = AIOKafkaConsumer(client_id=client_id, enable_auto_commit=False, **options)
        self._admin = AIOKafkaAdminClient(client_id=client_id, **options)
        self._started = False

    async def read(self) -> dict[TopicPartition, int]:
        """One reading of the group's lag (starts the clients the first time)."""
        if not self._started:
            await self._offsets.start()
            await self._admin.start()
            self._started = True
        # Asked each time, so partitions added since show up.
        described = await self._admin.describe_topics(self.topics)
        partitions = [
            TopicPartition(topic["topic"], partition["partition"])
            for topic in described
            if not topic["error_code"]
            for partition in topic["partitions"]
        ]
        if not partitions:
            return {}
        committed = await self._committed(partitions)
        return lag_of(
            end=await self._offsets.end_offsets(partitions),
            beginning=await self._offsets.beginning_offsets(partitions),
            committed={partition: meta.offset for partition, meta in committed.items()},
        )

    async def _committed(
        self, partitions: list[TopicPartition]
    ) -> dict[TopicPartition, OffsetAndMetadata]:
        for attempt in range(1, _COORDINATOR_ATTEMPTS + 1):
            try:
                committed: dict[
                    TopicPartition, OffsetAndMetadata
                ] = await self._admin.list_consumer_group_offsets(self.group, partitions=partitions)
                return committed
            except KafkaError as exc:
                if not exc.retriable or attempt == _COORDINATOR_ATTEMPTS:
                    raise
                await asyncio.sleep(_COORDINATOR_RETRY_S)
        raise AssertionError("unreachable")

    async def export_once(self) -> None:
        for partition, lag in (await self.read()).items():
            CONSUMER_LAG.labels(self.group, partition.topic, str(partition.partition)).set(lag)
        CONSUMER_LAG_UPDATED.labels(self.group).set(time.time())

    async def run(self) -> None:
        """Export every `interval_s`; a failed reading is logged and tried again next time."""
        try:
            while not cancel_requested():
                try:
                    await self.export_once()
                except Exception as exc:
                    # The updated timestamp stops advancing: that, not this line, is the alert.
                    logger.warning(
                        "consumer lag not read", extra={"group": self.group, "error": repr(exc)}
                    )
                await asyncio.sleep(self.interval_s)
        finally:
            await self.close()

    async def close(self) -> None:
        if self._started:
            self._started = False
            await self._admin.close()
            await self._offsets.stop()


def export_lag(
    settings: CommonSettings, *, group: str, topics: Sequence[str]
) -> asyncio.Task[None]:
    """Export `group`'s lag in the background until the task is stopped (tasks.stop_tasks)."""
    exporter = ConsumerLagExporter(settings, group=group, topics=topics)
    return asyncio.create_task(exporter.run(), name=f"consumer-lag-{group}")

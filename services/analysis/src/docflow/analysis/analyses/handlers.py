"""The subscriber on `documents.ingested`: it receives a poll of records at a time
(FastStream's batch subscriber).

Acknowledgement: offsets are committed (FastStream `AckPolicy.NACK_ON_ERROR` with auto-commit
off) only when the handler returns, i.e. after every document of the poll is stored, failed
or deferred. An exception seeks the poll back (nack) so it is fetched again: the handler is
idempotent. While the handler runs, FastStream fetches nothing more; that is the backpressure
(the limiter and the quota gate make the handler wait, and lag in Kafka is the queue).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from faststream.exceptions import NackMessage
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.middlewares import AckPolicy

from docflow.analysis.analyses.context import HoldPoll
from docflow.analysis.analyses.service import process_poll
from docflow.analysis.deps import AnalysisServices
from docflow.analysis.settings import AnalysisSettings
from docflow.common.events import Topic
from docflow.common.metrics import KAFKA_MESSAGES

logger = logging.getLogger(__name__)

# After an unexpected error (MongoDB or Kafka down) wait before the poll comes back, so a
# dependency outage does not turn into a hot loop of redeliveries.
ERROR_PAUSE_S = 2.0


@dataclass(slots=True)
class InFlight:
    """Whether a poll is being handled, so shutdown can let it finish."""

    draining: bool = False
    idle: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self.idle.set()

    async def wait_idle(self, timeout_s: float) -> bool:
        try:
            await asyncio.wait_for(self.idle.wait(), timeout=timeout_s)
        except TimeoutError:
            return False
        return True


async def _raw_records(message: Any) -> Any:
    """No decoding: the handler reads the raw records itself, so one unreadable value is
    dead-lettered instead of failing the whole poll in the decoder."""
    return None


def register_subscriber(
    broker: KafkaBroker,
    *,
    settings: AnalysisSettings,
    services: AnalysisServices,
    in_flight: InFlight,
) -> None:
    topic = settings.topic(Topic.INGESTED)

    @broker.subscriber(
        topic,
        batch=True,
        group_id=settings.consumer_group,
        max_records=settings.consumer_max_records,
        batch_timeout_ms=settings.consumer_batch_timeout_ms,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        decoder=_raw_records,
    )
    async def on_documents_ingested(message: KafkaMessage) -> None:
        """Analyze a poll of ingested documents; commit only once all of it is stored."""
        if in_flight.draining:
            raise NackMessage()  # shutting down: leave it for the next owner of the partition
        records = message.raw_message
        records = records if isinstance(records, tuple) else (records,)
        in_flight.idle.clear()
        started = time.perf_counter()
        try:
            await process_poll(services, records)
        except HoldPoll as exc:
            logger.warning("poll held uncommitted", extra={"reason": str(exc)})
            KAFKA_MESSAGES.labels(settings.service_name, topic, "redelivered").inc(len(records))
            raise NackMessage() from None
        except Exception:
            logger.exception("poll failed; it will be redelivered")
            KAFKA_MESSAGES.labels(settings.service_name, topic, "redelivered").inc(len(records))
            await asyncio.sleep(ERROR_PAUSE_S)
            raise
        finally:
            in_flight.idle.set()
        KAFKA_MESSAGES.labels(settings.service_name, topic, "processed").inc(len(records))
        logger.info(
            "poll handled",
            extra={
                "records": len(records),
                "duration_ms": round((time.perf_counter() - started) * 1000, 1),
            },
        )

"""One test's private slice of the shared infrastructure."""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import threading
import uuid
from dataclasses import dataclass

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from docflow.common.events import Topic
from docflow.testing.kafka import BOOTSTRAP

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Isolation:
    suffix: str
    database: str
    redis_prefix: str

    def env(self) -> dict[str, str]:
        """Environment variables that point a service at this slice."""
        return {
            "KAFKA_TOPIC_SUFFIX": self.suffix,
            "MONGODB_DATABASE": self.database,
            "REDIS_KEY_PREFIX": self.redis_prefix,
        }

    def topic(self, topic: Topic) -> str:
        return f"{topic.value}{self.suffix}"


def new_isolation() -> Isolation:
    token = uuid.uuid4().hex[:12]
    return Isolation(suffix=f".t{token}", database=f"test_{token}", redis_prefix=f"test:{token}")


class TopicSweeper:
    """Deletes finished tests' topics in the background, a few tests at a time.

    A broker keeps file handles open for every partition it holds: a long-lived development
    broker that collected the topics of thousands of tests died of "Too many open files". The
    tests do not wait for it (a deletion costs about 0.2 s); `close` waits for the last ones.
    """

    def __init__(self, bootstrap: str | None = None) -> None:
        self.bootstrap = bootstrap or os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or BOOTSTRAP
        self._suffixes: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self._worker = threading.Thread(target=self._run, name="topic-sweeper", daemon=True)
        self._worker.start()

    def drop(self, isolation: Isolation) -> None:
        self._suffixes.put(isolation.suffix)

    def close(self, timeout_s: float = 60) -> None:
        self._suffixes.put(None)
        self._worker.join(timeout=timeout_s)

    def _run(self) -> None:
        done = False
        while not done:
            suffixes = [self._suffixes.get()]
            while not self._suffixes.empty():
                suffixes.append(self._suffixes.get())
            done = None in suffixes
            wanted = tuple(s for s in suffixes if s is not None)
            if wanted:
                asyncio.run(self._drop(wanted))

    async def _drop(self, suffixes: tuple[str, ...]) -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap, request_timeout_ms=10_000)
        try:
            await admin.start()
            topics = [topic for topic in await admin.list_topics() if topic.endswith(suffixes)]
            if topics:
                await admin.delete_topics(topics, timeout_ms=10_000)
        except KafkaError as exc:
            logger.warning("test topics not deleted: %s", type(exc).__name__)
        finally:
            await admin.close()

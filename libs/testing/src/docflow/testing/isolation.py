"""One test's private slice of the shared infrastructure."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from docflow.common.events import Topic


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

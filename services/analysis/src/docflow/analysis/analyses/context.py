"""What handling one workload holds: the events (with the records they came from) and their
stored documents. A workload is a Kafka poll, or queued items collected from a batch job."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiokafka import ConsumerRecord

from docflow.analysis.deps import AnalysisServices
from docflow.common.clients import MongoDocument
from docflow.common.context import request_id_from_headers
from docflow.common.events import DocumentIngested


class HoldPoll(Exception):
    """The poll cannot finish now (quota exhausted): leave it uncommitted for redelivery."""


@dataclass(frozen=True, slots=True)
class Work:
    """One event with the record it came from (for its headers and its dead letter)."""

    event: DocumentIngested
    record: ConsumerRecord[Any, Any]

    @property
    def request_id(self) -> str | None:
        headers = dict(self.record.headers or ())
        return request_id_from_headers(headers)


@dataclass(slots=True)
class Workload:
    services: AnalysisServices
    work: dict[str, Work] = field(default_factory=dict)
    documents: dict[str, MongoDocument] = field(default_factory=dict)

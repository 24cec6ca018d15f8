"""What handling one workload holds: the events (with the records they came from) and their
stored documents. A workload is a Kafka poll, or queued items collected from a batch job."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from aiokafka import ConsumerRecord
from opentelemetry import trace
from opentelemetry.trace import Span

from docflow.analysis.deps import AnalysisServices
from docflow.common.clients import MongoDocument
from docflow.common.context import bound_request_id, request_id_from_headers
from docflow.common.events import DocumentIngested


class HoldPoll(Exception):
    """The poll cannot finish now (quota exhausted): leave it uncommitted for redelivery."""


@dataclass(frozen=True, slots=True)
class Work:
    """One event with the record it came from (for its headers and its dead letter), and the
    span of its handling, in the document's trace (telemetry.record_span; None: untraced)."""

    event: DocumentIngested
    record: ConsumerRecord[Any, Any]
    span: Span | None = None

    @property
    def request_id(self) -> str | None:
        headers = dict(self.record.headers or ())
        return request_id_from_headers(headers)

    @contextmanager
    def bound(self) -> Iterator[None]:
        """Work on this document under its correlation id and in its trace (its logs, the
        events it publishes)."""
        with bound_request_id(self.request_id):
            if self.span is None:
                yield
                return
            with trace.use_span(self.span, end_on_exit=False):
                yield


@dataclass(slots=True)
class Workload:
    services: AnalysisServices
    work: dict[str, Work] = field(default_factory=dict)
    documents: dict[str, MongoDocument] = field(default_factory=dict)

"""What processing one batch holds: the service's clients, the events and their documents."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiokafka import ConsumerRecord
from faststream.kafka import KafkaBroker

from docflow.analysis.analyses.budget import TenantBudget
from docflow.analysis.analyses.repository import Database
from docflow.analysis.batching import TokenEstimator
from docflow.analysis.providers.base import Provider
from docflow.analysis.quota import QuotaGate
from docflow.analysis.settings import AnalysisSettings
from docflow.common.clients import MongoDocument
from docflow.common.context import request_id_from_headers
from docflow.common.events import DocumentIngested


class HoldBatch(Exception):
    """The batch cannot finish now (quota exhausted): leave it uncommitted for redelivery."""


@dataclass(slots=True)
class AnalysisContext:
    settings: AnalysisSettings
    db: Database
    broker: KafkaBroker
    provider: Provider
    gate: QuotaGate
    budget: TenantBudget
    estimator: TokenEstimator


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
class Batch:
    ctx: AnalysisContext
    work: dict[str, Work] = field(default_factory=dict)
    documents: dict[str, MongoDocument] = field(default_factory=dict)

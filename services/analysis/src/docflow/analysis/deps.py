"""The analysis service's dependencies: one typed object, built by the lifespan in main.py.

Every part of the service reads its clients from here: the Kafka handler and the Batch API
runner receive it, the health checks read it from the app through `services_of`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import FastAPI
from faststream.kafka import KafkaBroker
from pymongo import AsyncMongoClient
from redis.asyncio import Redis

from docflow.analysis.analyses.budget import TenantBudget
from docflow.analysis.analyses.paid import PaidAnswers
from docflow.analysis.analyses.quota import QuotaGate
from docflow.analysis.analyses.repository import Database
from docflow.analysis.analyses.spend_cap import SpendCap
from docflow.analysis.providers.base import Provider
from docflow.analysis.providers.tokens import TokenEstimator
from docflow.analysis.settings import AnalysisSettings
from docflow.common.clients import MongoDocument


@dataclass(frozen=True, slots=True)
class AnalysisServices:
    settings: AnalysisSettings
    mongo: AsyncMongoClient[MongoDocument]
    db: Database
    redis: Redis
    broker: KafkaBroker
    provider: Provider
    gate: QuotaGate
    budget: TenantBudget
    spend_cap: SpendCap
    estimator: TokenEstimator
    paid: PaidAnswers = field(default_factory=PaidAnswers)


def services_of(app: FastAPI) -> AnalysisServices:
    """The services the lifespan put on the app; LookupError before it has run."""
    services = getattr(app.state, "services", None)
    if not isinstance(services, AnalysisServices):
        raise LookupError("the analysis lifespan has not started")
    return services

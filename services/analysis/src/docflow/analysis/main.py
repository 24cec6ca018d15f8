"""The analysis service: its app, its lifespan (clients, the provider, the Kafka subscriber and,
in Batch API mode, its runner) and `run`. HTTP (port 8003) serves health and metrics only."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from fastapi import FastAPI

from docflow.analysis.analyses import repository
from docflow.analysis.analyses.budget import TenantBudget
from docflow.analysis.analyses.handlers import InFlight, register_subscriber
from docflow.analysis.analyses.quota import QuotaGate
from docflow.analysis.analyses.spend_cap import SpendCap
from docflow.analysis.deps import AnalysisServices, services_of
from docflow.analysis.providers.factory import create_batch_api_client, create_provider
from docflow.analysis.providers.local import LocalProvider
from docflow.analysis.providers.tokens import TokenEstimator
from docflow.analysis.settings import AnalysisMode, AnalysisSettings
from docflow.common.app import create_service_app, run_service
from docflow.common.clients import (
    create_broker,
    create_mongo_client,
    create_redis,
    ensure_topics,
    mongo_database,
)
from docflow.common.events import Topic
from docflow.common.health import HealthCheck, HealthCheckFailed
from docflow.common.lag import export_lag
from docflow.common.logging import configure_logging
from docflow.common.settings import load_settings
from docflow.common.tasks import stop_tasks

if TYPE_CHECKING:
    from docflow.analysis.analyses.batch_api_runner import BatchApiRunner

logger = logging.getLogger(__name__)

_LAG_STOP_S = 5.0  # shutdown waits this long for the lag exporter to close its clients


def _create_services(settings: AnalysisSettings) -> AnalysisServices:
    mongo = create_mongo_client(settings)
    redis = create_redis(settings)
    estimator = TokenEstimator()
    provider = create_provider(settings, estimator)
    return AnalysisServices(
        settings=settings,
        mongo=mongo,
        db=mongo_database(mongo, settings),
        redis=redis,
        broker=create_broker(settings),
        provider=provider,
        gate=QuotaGate(probe=provider.probe, interval_s=settings.quota_probe_interval_s),
        budget=TenantBudget(
            redis=redis,
            prefix=settings.redis_key_prefix,
            daily_tokens=settings.tenant_daily_token_budget,
        ),
        spend_cap=SpendCap(
            redis=redis,
            prefix=settings.redis_key_prefix,
            usd_per_day=settings.llm_spend_cap_usd_per_day,
        ),
        estimator=estimator,
    )


def _batch_api_runner(services: AnalysisServices) -> BatchApiRunner:
    """ANALYSIS_MODE=batch only: imported then, like the OpenAI SDK it needs."""
    from docflow.analysis.analyses.batch_api_runner import BatchApiRunner

    client = create_batch_api_client(services.settings, services.estimator)
    return BatchApiRunner(services=services, client=client)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: AnalysisSettings = app.state.settings
    await ensure_topics(
        settings, [settings.topic(t) for t in (Topic.INGESTED, Topic.ANALYZED, Topic.DLQ)]
    )
    services = _create_services(settings)
    await repository.ensure_indexes(services.db)
    in_flight = InFlight()
    register_subscriber(services.broker, settings=settings, services=services, in_flight=in_flight)
    app.state.services = services
    runner = None
    if settings.analysis_mode is AnalysisMode.BATCH_API:
        runner = _batch_api_runner(services)
        runner.start()
    warm_up: asyncio.Task[None] | None = None
    if isinstance(services.provider, LocalProvider):
        # In the background: the service is ready at once, the first poll finds warm models.
        warm_up = asyncio.create_task(services.provider.warm_up(), name="warm-up")
    await services.broker.start()
    lag = export_lag(
        settings, group=settings.consumer_group, topics=[settings.topic(Topic.INGESTED)]
    )
    try:
        yield
    finally:
        await stop_tasks([lag], timeout_s=_LAG_STOP_S)
        # Let the poll in flight finish (bounded); an unfinished one stays uncommitted.
        in_flight.draining = True
        if not await in_flight.wait_idle(settings.shutdown_timeout_s):
            logger.warning("shutdown timeout: the poll in flight is left uncommitted")
        await services.broker.stop()
        if warm_up is not None:
            warm_up.cancel()
        if runner is not None:
            await runner.aclose()
        await services.gate.aclose()
        await services.provider.aclose()
        await services.redis.aclose()
        await services.mongo.close()


def health_checks(app: FastAPI) -> Sequence[HealthCheck]:
    """MongoDB, Kafka and the provider are required; without Redis budgets fail open."""
    try:
        services = services_of(app)
    except LookupError:  # before the lifespan: nothing to check yet
        return []

    async def mongo() -> object:
        return await services.mongo.admin.command("ping")

    async def kafka() -> object:
        if not await services.broker.ping(timeout=1.5):
            raise HealthCheckFailed("kafka unreachable")
        return None

    async def redis() -> object:
        return await services.redis.ping()

    async def provider() -> object:
        if not services.gate.is_open:
            raise HealthCheckFailed(f"provider unavailable: {services.gate.reason}")
        return {"provider": services.provider.name, "model": services.provider.model}

    return [
        HealthCheck("mongodb", mongo),
        HealthCheck("kafka", kafka),
        HealthCheck("redis", redis, required=False),
        HealthCheck("provider", provider),
    ]


def create_app(settings: AnalysisSettings | None = None) -> FastAPI:
    settings = settings or load_settings(AnalysisSettings)
    return create_service_app(
        settings=settings,
        title="docflow analysis",
        description="Analyzes ingested documents from Kafka; serves health and metrics only.",
        lifespan=lifespan,
        health_checks=health_checks,
        rate_limited=False,
    )


def run() -> None:
    settings = load_settings(AnalysisSettings)
    configure_logging(service=settings.service_name, level=settings.log_level)
    run_service(lambda: create_app(settings), settings)

"""The analysis service: a Kafka batch consumer with health and metrics on HTTP (port 8003)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from fastapi import FastAPI

from docflow.analysis.analyses import repository
from docflow.analysis.analyses.budget import TenantBudget
from docflow.analysis.analyses.context import AnalysisContext
from docflow.analysis.analyses.handlers import InFlight, register_subscriber
from docflow.analysis.batching import TokenEstimator
from docflow.analysis.providers.local import LocalProvider
from docflow.analysis.quota import QuotaGate
from docflow.analysis.settings import AnalysisMode, AnalysisSettings
from docflow.analysis.state import create_batch_runner, create_provider
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
from docflow.common.logging import configure_logging
from docflow.common.settings import load_settings

logger = logging.getLogger(__name__)


def _lifespan(settings: AnalysisSettings):  # type: ignore[no-untyped-def]
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        mongo = create_mongo_client(settings)
        db = mongo_database(mongo, settings)
        redis = create_redis(settings)
        await ensure_topics(
            settings, [settings.topic(t) for t in (Topic.INGESTED, Topic.ANALYZED, Topic.DLQ)]
        )
        await repository.ensure_indexes(db)
        estimator = TokenEstimator()
        provider = create_provider(settings, estimator)
        gate = QuotaGate(probe=provider.probe, interval_s=settings.quota_probe_interval_s)
        broker = create_broker(settings)
        context = AnalysisContext(
            settings=settings,
            db=db,
            broker=broker,
            provider=provider,
            gate=gate,
            budget=TenantBudget(
                redis=redis,
                prefix=settings.redis_key_prefix,
                daily_tokens=settings.tenant_daily_token_budget,
            ),
            estimator=estimator,
        )
        in_flight = InFlight()
        register_subscriber(broker, settings=settings, context=context, in_flight=in_flight)
        app.state.mongo, app.state.db, app.state.redis = mongo, db, redis
        app.state.broker, app.state.context = broker, context
        runner = None
        if settings.analysis_mode is AnalysisMode.BATCH:
            runner = create_batch_runner(settings, context)
            runner.start()
        app.state.batch_runner = runner
        warm_up: asyncio.Task[None] | None = None
        if isinstance(provider, LocalProvider):
            # In the background: the service is ready at once, the first batch finds warm models.
            warm_up = asyncio.create_task(provider.warm_up(), name="warm-up")
        await broker.start()
        try:
            yield
        finally:
            # Let the batch in flight finish (bounded); an unfinished one stays uncommitted.
            in_flight.draining = True
            if not await in_flight.wait_idle(settings.shutdown_timeout_s):
                logger.warning("shutdown timeout: the batch in flight is left uncommitted")
            await broker.stop()
            if warm_up is not None:
                warm_up.cancel()
            if runner is not None:
                await runner.aclose()
            await gate.aclose()
            await provider.aclose()
            await redis.aclose()
            await mongo.close()

    return lifespan


def _health_checks(app: FastAPI) -> Sequence[HealthCheck]:
    async def mongo() -> object:
        return await app.state.mongo.admin.command("ping")

    async def kafka() -> object:
        if not await app.state.broker.ping(timeout=1.5):
            raise HealthCheckFailed("kafka unreachable")
        return None

    async def redis() -> object:
        return await app.state.redis.ping()

    async def provider() -> object:
        context: AnalysisContext = app.state.context
        if not context.gate.is_open:
            raise HealthCheckFailed(f"provider unavailable: {context.gate.reason}")
        return {"provider": context.provider.name, "model": context.provider.model}

    if not hasattr(app.state, "context"):
        return []
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
        lifespan=_lifespan(settings),
        health_checks=_health_checks,
        rate_limited=False,
    )


def run() -> None:
    settings = load_settings(AnalysisSettings)
    configure_logging(service=settings.service_name, level=settings.log_level)
    run_service(lambda: create_app(settings), settings)

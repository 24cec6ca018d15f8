"""The ingest application: REST endpoints, the `documents.incoming` consumer and the outbox."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from fastapi import FastAPI

from docflow.common.app import create_service_app, install_lane, run_service
from docflow.common.clients import (
    create_broker,
    create_mongo_client,
    create_redis,
    ensure_topics,
    mongo_database,
)
from docflow.common.events import IncomingDocument, Topic
from docflow.common.health import HealthCheck
from docflow.common.lag import export_lag
from docflow.common.logging import configure_logging
from docflow.common.publishing import ingested_publisher
from docflow.common.settings import load_settings
from docflow.common.tasks import cancel_requested, stop_tasks
from docflow.ingest import asyncapi
from docflow.ingest.deps import IngestServices, services_of
from docflow.ingest.documents import lane
from docflow.ingest.documents import router as documents
from docflow.ingest.documents.idempotency import IdempotencyStore
from docflow.ingest.documents.outbox import Outbox
from docflow.ingest.documents.quota import TenantQuota
from docflow.ingest.documents.repository import DocumentRepository
from docflow.ingest.documents.store import DocumentStore
from docflow.ingest.errors import StorageUnavailable
from docflow.ingest.openapi import declare_limits, register_schemas
from docflow.ingest.settings import IngestSettings
from docflow.ingest.uploads import router as uploads
from docflow.ingest.uploads.extraction import Extractor
from docflow.ingest.uploads.slots import UploadSlots
from docflow.ingest.upstream.handlers import IncomingProcessor, register_incoming

logger = logging.getLogger(__name__)

DESCRIPTION = """
docflow's front door. Documents arrive as JSON (`POST /v1/documents`, `/v1/documents/batch`),
as files (`POST /v1/documents/upload`: txt, md, html, pdf, docx) or on the Kafka topic
`documents.incoming`. Each is validated, sanitized (markup and control characters removed,
NFC), stored once per tenant and content, and queued for analysis.

The API key decides the tenant: a `tenant_id` in a body or form may be left out, and one that
names another tenant is refused (403 `tenant_mismatch`). Each tenant may store
`TENANT_DOCUMENTS_PER_DAY` new documents per UTC day (429 `tenant_quota_exceeded`) and run
`UPLOADS_PER_TENANT` uploads at once (429 `too_many_uploads`); rate limits count per API key.

Every response is the envelope `{success, data, error, meta}`. Retries are safe: resubmitted
content returns the first document (`duplicate: true`), and an `Idempotency-Key` header replays
the first response for 24 hours. The Kafka topics are described in the
[AsyncAPI document](/docs/asyncapi) ([JSON](/asyncapi.json)).
"""
_INDEX_RETRY_S = 5.0


# Shutdown waits this long for the background tasks, then closes the clients anyway.
_BACKGROUND_STOP_S = 5.0


async def _ensure_indexes(repository: DocumentRepository) -> None:
    """Create the indexes, retrying while the store is down (startup must not wait for it)."""
    while not cancel_requested():
        try:
            await repository.ensure_indexes()
            return
        except StorageUnavailable:
            logger.warning("document store unavailable; index creation retried")
            await asyncio.sleep(_INDEX_RETRY_S)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: IngestSettings = app.state.settings
    mongo = create_mongo_client(settings)
    redis = create_redis(settings)
    broker = create_broker(settings)
    repository = DocumentRepository(mongo_database(mongo, settings))
    publisher = ingested_publisher(settings, timeout_s=settings.publish_timeout_s)
    outbox = Outbox(repository=repository, publisher=publisher, settings=settings)
    store = DocumentStore(repository, outbox)
    extractor = Extractor(settings)
    app.state.services = IngestServices(
        settings=settings,
        mongo=mongo,
        redis=redis,
        broker=broker,
        store=store,
        extractor=extractor,
        idempotency=IdempotencyStore(redis, settings),
        quota=TenantQuota(
            redis, prefix=settings.redis_key_prefix, per_day=settings.tenant_documents_per_day
        ),
        upload_slots=UploadSlots(settings.uploads_per_tenant),
    )
    background: list[asyncio.Task[None]] = []
    try:
        await ensure_topics(settings, [settings.topic(topic) for topic in Topic])
        processor = IncomingProcessor(settings=settings, broker=broker, store=store)
        register_incoming(broker, processor)
        await broker.start()
        await publisher.start()
        background.append(asyncio.create_task(_ensure_indexes(repository)))
        background.append(asyncio.create_task(extractor.warm_up()))
        background.append(asyncio.create_task(outbox.run()))
        background.append(
            export_lag(settings, group=settings.consumer_group, topics=[processor.topic])
        )
        yield
    finally:
        await stop_tasks(background, timeout_s=_BACKGROUND_STOP_S)
        await store.close()
        await outbox.close()  # publishes what it still can before the producer goes
        await publisher.stop()
        await broker.stop()
        await asyncio.to_thread(extractor.close)
        await redis.aclose()
        await mongo.close()


def health_checks(app: FastAPI) -> Sequence[HealthCheck]:
    services = services_of(app)

    async def mongo() -> object:
        return await services.mongo.admin.command("ping")

    async def kafka() -> object:
        if not await services.broker.ping(timeout=services.settings.health_check_timeout_s):
            raise ConnectionError("kafka unreachable")
        return None

    async def redis() -> object:
        return await services.redis.ping()

    return [
        HealthCheck("mongodb", mongo),
        # Without Kafka documents are still accepted: the outbox publishes them when it is back
        # (and answers 503 once its backlog is full), so the pod stays in rotation.
        HealthCheck("kafka", kafka, required=False),
        # Without Redis, rate limits fall back to memory and Idempotency-Key is not replayed.
        HealthCheck("redis", redis, required=False),
    ]


def create_app(settings: IngestSettings | None = None) -> FastAPI:
    settings = settings or load_settings(IngestSettings)
    app = create_service_app(
        settings=settings,
        title="docflow ingest",
        description=DESCRIPTION,
        lifespan=lifespan,
        health_checks=health_checks,
    )
    app.include_router(documents.router)
    app.include_router(documents.batch_router)
    app.include_router(uploads.router)
    if settings.docs_public:
        app.include_router(asyncapi.router)
    register_schemas(app, IncomingDocument)
    declare_limits(app, settings)
    install_lane(app, method=lane.METHOD, path=lane.PATH, answer=lane.answer)
    return app


def run() -> None:
    settings = load_settings(IngestSettings)
    configure_logging(service=settings.service_name, level=settings.log_level)
    run_service(lambda: create_app(settings), settings)

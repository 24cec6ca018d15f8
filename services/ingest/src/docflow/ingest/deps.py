"""What the lifespan builds, as one typed object, and the `Annotated` aliases endpoints use.

The lifespan stores one `IngestServices` on `app.state.services`; everything else (these
dependencies, the lane, the health checks) reads it through `services_of`. The getters are
`async def` on purpose: FastAPI runs a plain `def` dependency in a worker thread, and a
thread hop per dependency per request cost more than the rest of a request's CPU time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from faststream.kafka import KafkaBroker
from pymongo import AsyncMongoClient
from redis.asyncio import Redis
from starlette.applications import Starlette

from docflow.common.clients import MongoDocument
from docflow.ingest.documents.idempotency import IdempotencyStore
from docflow.ingest.documents.quota import TenantQuota
from docflow.ingest.documents.store import DocumentStore
from docflow.ingest.settings import IngestSettings
from docflow.ingest.uploads.extraction import Extractor
from docflow.ingest.uploads.slots import UploadSlots


@dataclass(frozen=True, slots=True)
class IngestServices:
    settings: IngestSettings
    mongo: AsyncMongoClient[MongoDocument]
    redis: Redis
    broker: KafkaBroker
    store: DocumentStore
    extractor: Extractor
    idempotency: IdempotencyStore
    quota: TenantQuota
    upload_slots: UploadSlots


def services_of(app: Starlette) -> IngestServices:
    services: IngestServices = app.state.services
    return services


async def get_settings(request: Request) -> IngestSettings:
    return services_of(request.app).settings


async def get_store(request: Request) -> DocumentStore:
    return services_of(request.app).store


async def get_idempotency(request: Request) -> IdempotencyStore:
    return services_of(request.app).idempotency


async def get_extractor(request: Request) -> Extractor:
    return services_of(request.app).extractor


async def get_quota(request: Request) -> TenantQuota:
    return services_of(request.app).quota


async def get_upload_slots(request: Request) -> UploadSlots:
    return services_of(request.app).upload_slots


SettingsDep = Annotated[IngestSettings, Depends(get_settings)]
StoreDep = Annotated[DocumentStore, Depends(get_store)]
IdempotencyDep = Annotated[IdempotencyStore, Depends(get_idempotency)]
ExtractorDep = Annotated[Extractor, Depends(get_extractor)]
QuotaDep = Annotated[TenantQuota, Depends(get_quota)]
UploadSlotsDep = Annotated[UploadSlots, Depends(get_upload_slots)]

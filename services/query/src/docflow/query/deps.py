"""What the lifespan builds, as one typed object, and the `Annotated` aliases endpoints use.

The lifespan stores one `QueryServices` on `app.state.services`; everything else (these
dependencies, the routes that skip them, the lane, the health checks) reads it through
`services_of`. The providers are `async def` because FastAPI runs plain `def` providers in a
thread pool, which would cost more than the cached read itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from faststream.kafka import KafkaBroker
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from redis.asyncio import Redis
from starlette.applications import Starlette

from docflow.common.clients import MongoDocument
from docflow.query.cache.readthrough import CachePolicy
from docflow.query.cache.store import Cache
from docflow.query.documents.repository import DocumentRepository
from docflow.query.settings import QuerySettings
from docflow.query.stats.repository import StatsRepository


@dataclass(frozen=True, slots=True)
class QueryServices:
    settings: QuerySettings
    mongo: AsyncMongoClient[MongoDocument]
    database: AsyncDatabase[MongoDocument]
    redis: Redis
    cache: Cache
    broker: KafkaBroker
    documents: DocumentRepository
    stats: StatsRepository
    cache_policy: CachePolicy


def services_of(app: Starlette) -> QueryServices:
    services: QueryServices = app.state.services
    return services


async def _cache(request: Request) -> Cache:
    return services_of(request.app).cache


async def _documents(request: Request) -> DocumentRepository:
    return services_of(request.app).documents


async def _stats(request: Request) -> StatsRepository:
    return services_of(request.app).stats


async def _policy(request: Request) -> CachePolicy:
    return services_of(request.app).cache_policy


async def _settings(request: Request) -> QuerySettings:
    return services_of(request.app).settings


CacheDep = Annotated[Cache, Depends(_cache)]
DocumentsDep = Annotated[DocumentRepository, Depends(_documents)]
StatsDep = Annotated[StatsRepository, Depends(_stats)]
PolicyDep = Annotated[CachePolicy, Depends(_policy)]
SettingsDep = Annotated[QuerySettings, Depends(_settings)]

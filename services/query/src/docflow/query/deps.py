"""The objects endpoints need, as `Annotated` aliases. Each lives on `app.state` (set by the
lifespan); the providers are `async def` because FastAPI runs plain `def` providers in a
thread pool, which would cost more than the cached read itself.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from docflow.query.cache.readthrough import CachePolicy
from docflow.query.cache.store import Cache
from docflow.query.documents.repository import DocumentRepository
from docflow.query.settings import QuerySettings
from docflow.query.stats.repository import StatsRepository


async def _cache(request: Request) -> Cache:
    cache: Cache = request.app.state.cache
    return cache


async def _documents(request: Request) -> DocumentRepository:
    documents: DocumentRepository = request.app.state.documents
    return documents


async def _stats(request: Request) -> StatsRepository:
    stats: StatsRepository = request.app.state.stats
    return stats


async def _policy(request: Request) -> CachePolicy:
    policy: CachePolicy = request.app.state.cache_policy
    return policy


async def _settings(request: Request) -> QuerySettings:
    settings: QuerySettings = request.app.state.settings
    return settings


CacheDep = Annotated[Cache, Depends(_cache)]
DocumentsDep = Annotated[DocumentRepository, Depends(_documents)]
StatsDep = Annotated[StatsRepository, Depends(_stats)]
PolicyDep = Annotated[CachePolicy, Depends(_policy)]
SettingsDep = Annotated[QuerySettings, Depends(_settings)]

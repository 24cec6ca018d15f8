"""Annotated dependency aliases for the clients and services held on `app.state`.

The getters are `async def` on purpose: FastAPI runs a plain `def` dependency in a worker
thread, and a thread hop per dependency per request cost more than the rest of a request's CPU time.
"""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import Depends, Request

from docflow.ingest.documents.idempotency import IdempotencyStore
from docflow.ingest.documents.store import DocumentStore
from docflow.ingest.settings import IngestSettings
from docflow.ingest.uploads.extraction import Extractor


async def get_settings(request: Request) -> IngestSettings:
    return cast(IngestSettings, request.app.state.settings)


async def get_store(request: Request) -> DocumentStore:
    return cast(DocumentStore, request.app.state.store)


async def get_idempotency(request: Request) -> IdempotencyStore:
    return cast(IdempotencyStore, request.app.state.idempotency)


async def get_extractor(request: Request) -> Extractor:
    return cast(Extractor, request.app.state.extractor)


SettingsDep = Annotated[IngestSettings, Depends(get_settings)]
StoreDep = Annotated[DocumentStore, Depends(get_store)]
IdempotencyDep = Annotated[IdempotencyStore, Depends(get_idempotency)]
ExtractorDep = Annotated[Extractor, Depends(get_extractor)]

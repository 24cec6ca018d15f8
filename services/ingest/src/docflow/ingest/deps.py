"""Annotated dependency aliases for the clients and services held on `app.state`."""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import Depends, Request

from docflow.ingest.documents.idempotency import IdempotencyStore
from docflow.ingest.documents.publisher import IngestedPublisher
from docflow.ingest.documents.repository import DocumentRepository
from docflow.ingest.settings import IngestSettings
from docflow.ingest.uploads.extraction import Extractor


def get_settings(request: Request) -> IngestSettings:
    return cast(IngestSettings, request.app.state.settings)


def get_repository(request: Request) -> DocumentRepository:
    return cast(DocumentRepository, request.app.state.repository)


def get_publisher(request: Request) -> IngestedPublisher:
    return cast(IngestedPublisher, request.app.state.publisher)


def get_idempotency(request: Request) -> IdempotencyStore:
    return cast(IdempotencyStore, request.app.state.idempotency)


def get_extractor(request: Request) -> Extractor:
    return cast(Extractor, request.app.state.extractor)


SettingsDep = Annotated[IngestSettings, Depends(get_settings)]
RepositoryDep = Annotated[DocumentRepository, Depends(get_repository)]
PublisherDep = Annotated[IngestedPublisher, Depends(get_publisher)]
IdempotencyDep = Annotated[IdempotencyStore, Depends(get_idempotency)]
ExtractorDep = Annotated[Extractor, Depends(get_extractor)]

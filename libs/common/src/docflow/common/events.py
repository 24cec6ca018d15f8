"""Kafka topics and the payloads that travel on them, defined once for every service.

Events are versioned: a consumer accepts the versions it knows and dead-letters the rest.
Unknown fields are ignored so a producer can add fields without breaking older consumers.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from docflow.common.documents import ContentType, DocumentStatus, MetadataValue

REQUEST_ID_HEADER = "x-request-id"


class Topic(StrEnum):
    INCOMING = "documents.incoming"
    INGESTED = "documents.ingested"
    ANALYZED = "documents.analyzed"
    DLQ = "documents.dlq"


class DeadLetterHeader(StrEnum):
    ERROR_TYPE = "error.type"
    ERROR_MESSAGE = "error.message"
    SOURCE_TOPIC = "source.topic"
    SOURCE_PARTITION = "source.partition"
    SOURCE_OFFSET = "source.offset"


def utc_now() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    # 128 random bits as 32 hex digits, like uuid4().hex without building a UUID (hot path).
    return os.urandom(16).hex()


class IncomingDocument(BaseModel):
    """A document as clients and upstream systems submit it (REST body or `documents.incoming`).

    Size limits depend on settings and are checked by the ingest service, not here.
    """

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)

    content: str = Field(
        description="The document text.", examples=["Acme reported record revenue."]
    )
    title: str | None = Field(default=None, examples=["Q3 report"])
    source: str | None = Field(default=None, examples=["crm"])
    external_id: str | None = Field(default=None, examples=["ticket-4711"])
    content_type: ContentType = ContentType.PLAIN
    metadata: dict[str, MetadataValue] | None = Field(default=None, examples=[{"team": "sales"}])
    tenant_id: str | None = Field(
        default=None,
        description=(
            "REST: may be left out; the API key decides, and another tenant is refused (403 "
            "`tenant_mismatch`). documents.incoming: the producer's tenant, `default` when absent."
        ),
    )


class Event(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    event_id: str = Field(default_factory=new_id)
    occurred_at: datetime = Field(default_factory=utc_now)


class DocumentIngested(Event):
    """Published by ingest once the document is stored, and again by analysis's resume command
    for a deferred document; analysis reads the text from MongoDB."""

    version: Literal[1] = 1
    document_id: str
    tenant_id: str
    content_hash: str


class DocumentAnalyzed(Event):
    """Published by analysis once the result (or the final failure) is stored."""

    version: Literal[1] = 1
    document_id: str
    tenant_id: str
    status: DocumentStatus
    prompt_version: str | None = None
    error: str | None = None

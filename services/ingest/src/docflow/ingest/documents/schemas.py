"""Request and response shapes of the document endpoints, with the examples OpenAPI shows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, Field

from docflow.common.documents import ContentType, DocumentStatus, MetadataValue

Origin = Literal["api", "upload", "kafka"]

INCOMING_EXAMPLE: dict[str, Any] = {
    "title": "Q3 report",
    "content": "Acme reported record revenue and strong growth this quarter.",
    "source": "crm",
    "external_id": "ticket-4711",
    "content_type": "text/plain",
    "metadata": {"team": "sales", "priority": 2},
}


@dataclass(frozen=True, slots=True)
class PreparedDocument:
    """A submission after validation and sanitization: exactly what is stored."""

    tenant_id: str
    content: str
    content_hash: str
    content_type: ContentType
    title: str | None
    source: str | None
    external_id: str | None
    metadata: dict[str, MetadataValue] | None


@dataclass(frozen=True, slots=True)
class IngestOutcome:
    document_id: str
    status: str
    duplicate: bool
    # False when the event could not be published yet; the outbox sweeper will publish it.
    published: bool

    @property
    def status_code(self) -> int:
        return 200 if self.duplicate else 202

    def as_data(self) -> dict[str, Any]:
        return {"id": self.document_id, "status": self.status, "duplicate": self.duplicate}


class IngestResult(BaseModel):
    id: str = Field(examples=["3f2b8c0e9d4a4b6f8e1c2d3a4b5c6d7e"])
    status: DocumentStatus = Field(examples=["queued"])
    duplicate: bool = Field(
        default=False, description="True when the same content was already stored (HTTP 200)."
    )


class ItemError(BaseModel):
    code: str = Field(examples=["empty_content"])
    message: str
    status: int = Field(description="The HTTP status this error would have on its own.")
    details: Any = None


class BatchItemResult(BaseModel):
    index: int
    success: bool
    id: str | None = None
    status: DocumentStatus | None = None
    duplicate: bool | None = None
    error: ItemError | None = None


class BatchResult(BaseModel):
    accepted: int = Field(description="Items stored now or found as duplicates.")
    rejected: int
    items: list[BatchItemResult] = Field(description="One result per submitted item, in order.")


class RawBatchRequest(BaseModel):
    """The batch body as received: items are validated one by one so a bad one stands alone."""

    documents: list[Any] = Field(
        description="Up to 100 IncomingDocument objects; an invalid item gets its own error.",
        json_schema_extra={"items": {"$ref": "#/components/schemas/IncomingDocument"}},
        examples=[[INCOMING_EXAMPLE, {"content": "Second document."}]],
    )

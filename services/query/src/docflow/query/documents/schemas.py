"""The served shapes, for the OpenAPI page. Responses are rendered by `render.py` straight to
bytes; these models document them and are checked against them in the tests.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from docflow.common.documents import Analysis, ContentType, DocumentStatus, MetadataValue


class DocumentError(BaseModel):
    code: str
    message: str


class DocumentOut(BaseModel):
    id: str = Field(examples=["3f2b8c1e9a7d4e6f8b0c1d2e3f4a5b6c"])
    tenant_id: str
    title: str | None
    source: str | None
    external_id: str | None
    content_type: ContentType
    metadata: dict[str, MetadataValue] | None
    status: DocumentStatus
    created_at: datetime
    updated_at: datetime | None
    content: str | None = Field(
        default=None,
        description="The full text: by id with `include_content=true` (the default); "
        "never in lists.",
    )
    analysis: Analysis | None = Field(description="Present once the status is `analyzed`.")
    error: DocumentError | None = Field(description="Why analysis failed (status `failed`).")


class DocumentPage(BaseModel):
    items: list[DocumentOut] = Field(description="Newest first.")
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null on the last page."
    )

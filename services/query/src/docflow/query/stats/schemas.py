"""The served shape of `GET /v1/stats`."""

from __future__ import annotations

from pydantic import BaseModel, Field


class Stats(BaseModel):
    total: int = Field(description="Every document, whatever its status.")
    by_status: dict[str, int] = Field(description="Every status, zero included.")
    by_sentiment: dict[str, int] = Field(
        description="Analyzed documents by sentiment label, zero included."
    )
    by_language: dict[str, int] = Field(
        description="Analyzed documents by ISO 639-1 language, most frequent first."
    )

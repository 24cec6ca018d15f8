"""The stored shape of a document and its analysis, shared by the services that read and write it.

Field names here are the MongoDB field names. FerretDB and MongoDB both accept everything
used here (no dots or leading `$` in keys, no nested arrays).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

DOCUMENTS = "documents"
ANALYSES = "analyses"
DEFAULT_TENANT = "default"

MetadataValue = str | int | float | bool


class ContentType(StrEnum):
    PLAIN = "text/plain"
    MARKDOWN = "text/markdown"
    HTML = "text/html"


class DocumentStatus(StrEnum):
    QUEUED = "queued"
    ANALYZED = "analyzed"
    FAILED = "failed"
    # The tenant's daily token budget is spent; analysis resumes when it resets.
    DEFERRED = "deferred"


SentimentLabel = Literal["positive", "neutral", "negative", "mixed"]


class Sentiment(BaseModel):
    label: SentimentLabel
    score: float = Field(ge=-1.0, le=1.0)


class Entity(BaseModel):
    text: str
    type: str


class Usage(BaseModel):
    prompt_tokens: int = 0
    completion_tokens: int = 0


class Analysis(BaseModel):
    """The analysis of one document, as stored and as served by the query service."""

    model_config = ConfigDict(extra="ignore")

    summary: str
    language: str = Field(description="ISO 639-1 code, `und` when undetermined.")
    sentiment: Sentiment
    keywords: list[str]
    entities: list[Entity]
    categories: list[str]
    provider: str
    model: str
    prompt_version: str
    usage: Usage = Field(default_factory=Usage)
    cost_usd: float = 0.0
    analyzed_at: datetime

"""What every provider takes and returns, so the handler does not care who analyzes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from docflow.common.documents import Usage

SentimentLabel = Literal["positive", "neutral", "negative", "mixed"]


class SentimentResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label: SentimentLabel
    score: float = Field(ge=-1.0, le=1.0)


class EntityResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=200)
    type: str = Field(min_length=1, max_length=50)


class DocumentResult(BaseModel):
    """The part of the contract's analysis a provider produces for one document."""

    model_config = ConfigDict(extra="forbid")

    summary: str = Field(min_length=1, max_length=4000)
    language: str = Field(pattern=r"^([a-z]{2}|und)$", description="ISO 639-1, or `und`.")
    sentiment: SentimentResult
    keywords: list[str] = Field(max_length=30)
    entities: list[EntityResult] = Field(max_length=50)
    categories: list[str] = Field(max_length=10)


@dataclass(frozen=True, slots=True)
class DocumentInput:
    """One document as handed to a provider: already sanitized and within the size limit."""

    document_id: str
    tenant_id: str
    text: str
    truncated: bool = False


@dataclass(frozen=True, slots=True)
class Analyzed:
    result: DocumentResult
    # The document's share of its request's usage (split by its share of the prompt).
    usage: Usage


@dataclass(slots=True)
class ProviderOutcome:
    """Per document: a result, a final failure (with the reason), or blocked by the quota."""

    analyzed: dict[str, Analyzed] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    quota_blocked: set[str] = field(default_factory=set)
    blocked_reason: str | None = None


class QuotaExhausted(Exception):
    """The provider refuses work until billing changes; retrying cannot help."""


class Provider(Protocol):
    name: str
    model: str

    async def analyze(self, documents: list[DocumentInput]) -> ProviderOutcome:
        """Analyze every document; never raises for one document's failure."""
        ...

    async def probe(self) -> None:
        """A cheap call that raises while the provider cannot serve (quota, outage)."""
        ...

    async def aclose(self) -> None: ...

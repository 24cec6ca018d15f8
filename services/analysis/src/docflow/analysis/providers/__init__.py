"""Providers behind one interface: `local` (embedded, offline) and `openai` (any compatible API)."""

from docflow.analysis.providers.base import (
    Analyzed,
    DocumentInput,
    DocumentResult,
    Provider,
    ProviderOutcome,
)

__all__ = ["Analyzed", "DocumentInput", "DocumentResult", "Provider", "ProviderOutcome"]

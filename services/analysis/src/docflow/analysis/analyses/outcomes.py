"""What happens to a document once its fate is known: stored and announced, or failed,
dead-lettered and announced. Shared by the real-time path and the Batch API runner."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from docflow.analysis.analyses import repository
from docflow.analysis.analyses.context import Batch
from docflow.analysis.batching import prepare_document
from docflow.analysis.metrics import COST, DOCUMENTS, TOKENS
from docflow.analysis.providers.base import Analyzed, DocumentInput
from docflow.analysis.settings import AnalysisMode
from docflow.common.clients import MongoDocument
from docflow.common.context import bound_request_id
from docflow.common.documents import Analysis, DocumentStatus, Sentiment
from docflow.common.events import DocumentAnalyzed, Topic, utc_now
from docflow.common.kafka import SourcePosition, publish_dead_letter, publish_event

logger = logging.getLogger(__name__)


def document_input(batch: Batch, document_id: str) -> DocumentInput:
    document = batch.documents[document_id]
    return prepare_document(
        document_id=document_id,
        tenant_id=batch.work[document_id].event.tenant_id,
        title=document.get("title"),
        content=str(document.get("content") or ""),
        max_tokens=batch.ctx.settings.max_document_tokens,
        estimator=batch.ctx.estimator,
    )


async def store_all(batch: Batch, analyzed: dict[str, Analyzed], *, truncated: set[str]) -> None:
    """Store a round's results in two bulk writes, then announce them."""
    ctx = batch.ctx
    model = ctx.provider.model
    records = []
    spent_by_tenant: dict[str, int] = {}
    for document_id, result in analyzed.items():
        usage, tenant = result.usage, batch.work[document_id].event.tenant_id
        cost = ctx.settings.price_of(
            model=model,
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
        )
        if ctx.settings.analysis_mode is AnalysisMode.BATCH:
            cost *= ctx.settings.batch_price_factor
        analysis = Analysis(
            **result.result.model_dump(exclude={"sentiment"}),
            sentiment=Sentiment(**result.result.sentiment.model_dump()),
            provider=ctx.provider.name,
            model=model,
            prompt_version=ctx.settings.prompt_version,
            usage=usage,
            cost_usd=round(cost, 8),
            analyzed_at=utc_now(),
        ).model_dump(mode="python")
        records.append(
            analysis_record(batch, document_id, analysis, truncated=document_id in truncated)
        )
        tokens = usage.prompt_tokens + usage.completion_tokens
        spent_by_tenant[tenant] = spent_by_tenant.get(tenant, 0) + tokens
        TOKENS.labels(model, "prompt").inc(usage.prompt_tokens)
        TOKENS.labels(model, "completion").inc(usage.completion_tokens)
        COST.labels(model).inc(cost)
        DOCUMENTS.labels("analyzed").inc()
    await repository.insert_analyses(ctx.db, records)
    await apply_all(batch, records)
    for tenant, tokens in spent_by_tenant.items():
        await ctx.budget.add(tenant, tokens)


def analysis_record(
    batch: Batch, document_id: str, analysis: dict[str, Any], *, truncated: bool
) -> MongoDocument:
    document = batch.documents[document_id]
    prompt_version = batch.ctx.settings.prompt_version
    return {
        "_id": repository.analysis_id(document_id, prompt_version),
        "document_id": document_id,
        "tenant_id": document.get("tenant_id"),
        "content_hash": document.get("content_hash"),
        "model": analysis["model"],
        "prompt_version": prompt_version,
        "truncated": truncated,
        "analysis": {**analysis, "truncated": truncated},
        "created_at": utc_now(),
    }


async def apply_all(batch: Batch, records: list[MongoDocument]) -> None:
    """Put stored analyses on their documents and announce them (both safe to repeat)."""
    if not records:
        return
    analyzed = DocumentStatus.ANALYZED.value
    await repository.mark_many_analyzed(
        batch.ctx.db,
        # A document already analyzed (a redelivery) is left exactly as it is.
        analyses={
            r["document_id"]: r["analysis"]
            for r in records
            if batch.documents[r["document_id"]].get("status") != analyzed
        },
        now=utc_now(),
    )
    # Concurrent sends let the producer batch them; each carries its own correlation id.
    await asyncio.gather(
        *(publish(batch, r["document_id"], DocumentStatus.ANALYZED) for r in records)
    )


async def fail(batch: Batch, document_id: str, reason: str) -> None:
    """Final failure: marked `failed` with the reason, dead-lettered, announced."""
    with bound_request_id(batch.work[document_id].request_id):
        await _fail(batch, document_id, reason)


async def _fail(batch: Batch, document_id: str, reason: str) -> None:
    ctx = batch.ctx
    logger.warning("analysis failed", extra={"document_id": document_id, "reason": reason})
    await repository.mark_unanalyzed(
        ctx.db,
        document_id=document_id,
        status=DocumentStatus.FAILED,
        code="analysis_failed",
        message=reason,
        now=utc_now(),
    )
    await dead_letter(batch, document_id, "analysis_failed", reason)
    await publish(batch, document_id, DocumentStatus.FAILED, error=reason)
    DOCUMENTS.labels("failed").inc()


async def dead_letter(batch: Batch, document_id: str, error_type: str, message: str) -> None:
    record = batch.work[document_id].record
    with bound_request_id(batch.work[document_id].request_id):
        await publish_dead_letter(
            batch.ctx.broker,
            batch.ctx.settings,
            payload=record.value or b"",  # the original DocumentIngested bytes
            error_type=error_type,
            error_message=message,
            source=SourcePosition(record.topic, record.partition, record.offset),
            key=record.key,
        )
    DOCUMENTS.labels("dead_lettered").inc()


async def publish(
    batch: Batch, document_id: str, status: DocumentStatus, *, error: str | None = None
) -> None:
    with bound_request_id(batch.work[document_id].request_id):
        await _publish_event(batch, document_id, status, error=error)


async def _publish_event(
    batch: Batch, document_id: str, status: DocumentStatus, *, error: str | None
) -> None:
    event = DocumentAnalyzed(
        document_id=document_id,
        tenant_id=batch.work[document_id].event.tenant_id,
        status=status,
        prompt_version=batch.ctx.settings.prompt_version,
        error=error,
    )
    await publish_event(
        batch.ctx.broker, batch.ctx.settings, Topic.ANALYZED, event, key=document_id
    )
    # One line per document, under the correlation id its DocumentIngested carried.
    logger.info(
        "document %s",
        status.value,
        extra={"document_id": document_id, "tenant_id": event.tenant_id, "status": status.value},
    )

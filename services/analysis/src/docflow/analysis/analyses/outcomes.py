"""What happens to a document once its fate is known: stored and announced, or failed,
dead-lettered and announced. Shared by the real-time path and the Batch API runner."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from docflow.analysis.analyses import repository
from docflow.analysis.analyses.context import Workload
from docflow.analysis.deps import AnalysisServices
from docflow.analysis.metrics import COST, DOCUMENTS, TOKENS
from docflow.analysis.providers.base import Analyzed, DocumentInput
from docflow.analysis.providers.inputs import prepare_document
from docflow.analysis.settings import AnalysisMode
from docflow.common.clients import MongoDocument
from docflow.common.documents import Analysis, DocumentStatus, Sentiment
from docflow.common.events import DocumentAnalyzed, Topic, utc_now
from docflow.common.kafka import SourcePosition, publish_dead_letter, publish_event

logger = logging.getLogger(__name__)


def document_input(workload: Workload, document_id: str) -> DocumentInput:
    document = workload.documents[document_id]
    return prepare_document(
        document_id=document_id,
        tenant_id=workload.work[document_id].event.tenant_id,
        title=document.get("title"),
        content=str(document.get("content") or ""),
        max_tokens=workload.services.settings.max_document_tokens,
        estimator=workload.services.estimator,
    )


def cost_of(services: AnalysisServices, *, prompt_tokens: int, completion_tokens: int) -> float:
    """Estimated USD (the price table; the Batch API bills its share of it)."""
    cost = services.settings.price_of(
        model=services.provider.model,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
    )
    if services.settings.analysis_mode is AnalysisMode.BATCH_API:
        cost *= services.settings.batch_price_factor
    return cost


async def store_all(
    workload: Workload, analyzed: dict[str, Analyzed], *, truncated: set[str]
) -> None:
    """Store results in two bulk writes, then announce them."""
    services = workload.services
    model = services.provider.model
    records = []
    spent_by_tenant: dict[str, int] = {}
    spend = 0.0
    for document_id, result in analyzed.items():
        usage, tenant = result.usage, workload.work[document_id].event.tenant_id
        cost = cost_of(
            services, prompt_tokens=usage.prompt_tokens, completion_tokens=usage.completion_tokens
        )
        spend += cost
        analysis = Analysis(
            **result.result.model_dump(exclude={"sentiment"}),
            sentiment=Sentiment(**result.result.sentiment.model_dump()),
            provider=services.provider.name,
            model=model,
            prompt_version=services.settings.prompt_version,
            usage=usage,
            cost_usd=round(cost, 8),
            analyzed_at=utc_now(),
        ).model_dump(mode="python")
        records.append(
            analysis_record(workload, document_id, analysis, truncated=document_id in truncated)
        )
        tokens = usage.prompt_tokens + usage.completion_tokens
        spent_by_tenant[tenant] = spent_by_tenant.get(tenant, 0) + tokens
    await repository.insert_analyses(services.db, records)
    # Counted once stored: an answer whose store failed is stored (and counted) on the retry.
    for result in analyzed.values():
        TOKENS.labels(model, "prompt").inc(result.usage.prompt_tokens)
        TOKENS.labels(model, "completion").inc(result.usage.completion_tokens)
    COST.labels(model).inc(spend)
    DOCUMENTS.labels("analyzed").inc(len(records))
    await apply_all(workload, records)
    for tenant, tokens in spent_by_tenant.items():
        await services.budget.add(tenant, tokens)
    await services.spend_cap.add(spend)


def analysis_record(
    workload: Workload, document_id: str, analysis: dict[str, Any], *, truncated: bool
) -> MongoDocument:
    document = workload.documents[document_id]
    prompt_version = workload.services.settings.prompt_version
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


async def apply_all(workload: Workload, records: list[MongoDocument]) -> None:
    """Put stored analyses on their documents and announce them (both safe to repeat)."""
    if not records:
        return
    await repository.mark_many_analyzed(
        workload.services.db,
        # A document that already shows this analysis (a redelivery) is left exactly as it
        # is; one analyzed before under another prompt version or model (re-queued by
        # `docflow-reanalyze`) gets the new one.
        analyses={
            r["document_id"]: r["analysis"]
            for r in records
            if not shows(workload.documents[r["document_id"]], r["analysis"])
        },
        now=utc_now(),
    )
    # Concurrent sends let the producer pack them into few requests; each carries its own
    # correlation id.
    await asyncio.gather(
        *(publish(workload, r["document_id"], DocumentStatus.ANALYZED) for r in records)
    )


def shows(document: MongoDocument, analysis: dict[str, Any]) -> bool:
    """Whether `document` is analyzed and carries this very analysis (same `analyzed_at`)."""
    current = document.get("analysis") or {}
    return bool(
        document.get("status") == DocumentStatus.ANALYZED.value
        and current.get("analyzed_at") == analysis.get("analyzed_at")
    )


async def fail(workload: Workload, document_id: str, reason: str) -> None:
    """Final failure: marked `failed` with the reason, dead-lettered, announced."""
    with workload.work[document_id].bound():
        await _fail(workload, document_id, reason)


async def _fail(workload: Workload, document_id: str, reason: str) -> None:
    services = workload.services
    logger.warning("analysis failed", extra={"document_id": document_id, "reason": reason})
    await repository.mark_unanalyzed(
        services.db,
        document_id=document_id,
        status=DocumentStatus.FAILED,
        code="analysis_failed",
        message=reason,
        now=utc_now(),
    )
    await dead_letter(workload, document_id, "analysis_failed", reason)
    await publish(workload, document_id, DocumentStatus.FAILED, error=reason)
    DOCUMENTS.labels("failed").inc()


async def dead_letter(workload: Workload, document_id: str, error_type: str, message: str) -> None:
    record = workload.work[document_id].record
    with workload.work[document_id].bound():
        await publish_dead_letter(
            workload.services.broker,
            workload.services.settings,
            payload=record.value or b"",  # the original DocumentIngested bytes
            error_type=error_type,
            error_message=message,
            source=SourcePosition(record.topic, record.partition, record.offset),
            key=record.key,
        )
    DOCUMENTS.labels("dead_lettered").inc()


async def publish(
    workload: Workload, document_id: str, status: DocumentStatus, *, error: str | None = None
) -> None:
    with workload.work[document_id].bound():
        await _publish_event(workload, document_id, status, error=error)


async def _publish_event(
    workload: Workload, document_id: str, status: DocumentStatus, *, error: str | None
) -> None:
    event = DocumentAnalyzed(
        document_id=document_id,
        tenant_id=workload.work[document_id].event.tenant_id,
        status=status,
        prompt_version=workload.services.settings.prompt_version,
        error=error,
    )
    await publish_event(
        workload.services.broker, workload.services.settings, Topic.ANALYZED, event, key=document_id
    )
    # One line per document, under the correlation id its DocumentIngested carried.
    logger.info(
        "document %s",
        status.value,
        extra={"document_id": document_id, "tenant_id": event.tenant_id, "status": status.value},
    )

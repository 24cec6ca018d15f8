"""One Kafka batch of DocumentIngested events, from parsing to stored results and events.

Order per document: store the analysis, mark the document, then publish DocumentAnalyzed;
the handler commits the batch's offsets only after all of it. A crash anywhere redelivers
the batch, and every step here is idempotent, so the redelivery stores nothing twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from aiokafka import ConsumerRecord
from faststream.kafka import KafkaBroker
from pydantic import ValidationError

from docflow.analysis.analyses import repository
from docflow.analysis.analyses.budget import TenantBudget
from docflow.analysis.analyses.repository import Database
from docflow.analysis.batching import TokenEstimator, prepare_document
from docflow.analysis.metrics import COST, DOCUMENTS, TOKENS
from docflow.analysis.providers.base import Analyzed, DocumentInput, Provider
from docflow.analysis.quota import QuotaGate
from docflow.analysis.settings import AnalysisMode, AnalysisSettings
from docflow.common.clients import MongoDocument
from docflow.common.context import bound_request_id, request_id_from_headers
from docflow.common.documents import Analysis, DocumentStatus, Sentiment, Usage
from docflow.common.events import (
    REQUEST_ID_HEADER,
    DocumentAnalyzed,
    DocumentIngested,
    Topic,
    utc_now,
)
from docflow.common.kafka import SourcePosition, publish_dead_letter, publish_event

logger = logging.getLogger(__name__)


class HoldBatch(Exception):
    """The batch cannot finish now (quota exhausted): leave it uncommitted for redelivery."""


@dataclass(slots=True)
class AnalysisContext:
    settings: AnalysisSettings
    db: Database
    broker: KafkaBroker
    provider: Provider
    gate: QuotaGate
    budget: TenantBudget
    estimator: TokenEstimator


@dataclass(frozen=True, slots=True)
class Work:
    """One event with the record it came from (for its headers and its dead letter)."""

    event: DocumentIngested
    record: ConsumerRecord[Any, Any]

    @property
    def request_id(self) -> str | None:
        headers = dict(self.record.headers or ())
        return request_id_from_headers(headers)


@dataclass(slots=True)
class Batch:
    ctx: AnalysisContext
    work: dict[str, Work] = field(default_factory=dict)
    documents: dict[str, MongoDocument] = field(default_factory=dict)


async def process_batch(ctx: AnalysisContext, records: Sequence[ConsumerRecord[Any, Any]]) -> None:
    batch = Batch(ctx)
    for record in records:
        await _accept(batch, record)
    if not batch.work:
        return
    batch.documents = await repository.load_documents(ctx.db, list(batch.work))
    for document_id in [i for i in batch.work if i not in batch.documents]:
        await _dead_letter(batch, document_id, "document_not_found", "no such document stored")
    hashes = {d.get("content_hash") for d in batch.documents.values()}
    stored, reusable = await repository.related_analyses(
        ctx.db,
        document_ids=list(batch.documents),
        content_hashes=sorted(h for h in hashes if isinstance(h, str)),
        model=ctx.provider.model,
        prompt_version=ctx.settings.prompt_version,
    )
    pending = await _finish_already_analyzed(batch, stored)
    pending = await _reuse_identical_content(batch, pending, reusable)
    pending = await _defer_spent_tenants(batch, pending)
    if ctx.settings.analysis_mode is AnalysisMode.BATCH:
        await _enqueue(batch, pending)  # the batch runner submits them (analyses/batch_mode.py)
        return
    pending, twins = _split_twins(batch, pending)
    await _analyze(batch, pending)
    if twins:
        await _copy_to_twins(batch, twins)


def _split_twins(batch: Batch, pending: list[str]) -> tuple[list[str], list[str]]:
    """Identical content twice in one batch (other tenants) is analyzed once, then copied."""
    first: dict[object, str] = {}
    unique, twins = [], []
    for document_id in pending:
        content_hash = batch.documents[document_id].get("content_hash")
        if content_hash is not None and content_hash in first:
            twins.append(document_id)
        else:
            first.setdefault(content_hash, document_id)
            unique.append(document_id)
    return unique, twins


async def _copy_to_twins(batch: Batch, twins: list[str]) -> None:
    ctx = batch.ctx
    hashes = sorted({str(batch.documents[i].get("content_hash")) for i in twins})
    _, reusable = await repository.related_analyses(
        ctx.db,
        document_ids=[],
        content_hashes=hashes,
        model=ctx.provider.model,
        prompt_version=ctx.settings.prompt_version,
    )
    left = await _reuse_identical_content(batch, twins, reusable)
    # The original failed: its twins get their own chance rather than sharing its fate.
    await _analyze(batch, left)


async def _accept(batch: Batch, record: ConsumerRecord[Any, Any]) -> None:
    """Parse one record; an unreadable or unknown-version event is dead-lettered alone."""
    try:
        event = DocumentIngested.model_validate_json(record.value or b"")
    except ValidationError as exc:
        await publish_dead_letter(
            batch.ctx.broker,
            batch.ctx.settings,
            payload=record.value or b"",
            error_type="invalid_event",
            error_message=str(exc.errors(include_input=False)[:3]),
            source=SourcePosition(record.topic, record.partition, record.offset),
            key=record.key,
        )
        DOCUMENTS.labels("dead_lettered").inc()
        return
    # A document twice in one batch is analyzed once.
    batch.work.setdefault(event.document_id, Work(event, record))


async def _finish_already_analyzed(batch: Batch, stored: dict[str, MongoDocument]) -> list[str]:
    """Documents analyzed with this prompt version (a redelivery) or already failed are not
    analyzed again; a stored analysis not yet on its document (crash in between) is applied."""
    pending = []
    for document_id in [i for i in batch.work if i in batch.documents]:
        if document_id in stored:
            DOCUMENTS.labels("skipped").inc()
        elif batch.documents[document_id].get("status") == DocumentStatus.FAILED.value:
            DOCUMENTS.labels("skipped").inc()  # final: its dead letter is already out
        else:
            pending.append(document_id)
    await _apply_all(batch, list(stored.values()))
    return pending


async def _reuse_identical_content(
    batch: Batch, pending: list[str], reusable: dict[str, MongoDocument]
) -> list[str]:
    """Never pay twice: identical content analyzed by the same model and prompt is copied."""
    remaining, records = [], []
    for document_id in pending:
        source = reusable.get(batch.documents[document_id].get("content_hash") or "")
        if source is None or source["document_id"] == document_id:
            remaining.append(document_id)
            continue
        analysis = {**source["analysis"], "usage": Usage().model_dump(), "cost_usd": 0.0}
        record = _analysis_record(
            batch, document_id, analysis, truncated=bool(source.get("truncated"))
        )
        record["reused_from"] = source["document_id"]
        records.append(record)
        DOCUMENTS.labels("reused").inc()
    await repository.insert_analyses(batch.ctx.db, records)
    await _apply_all(batch, records)
    return remaining


async def _defer_spent_tenants(batch: Batch, pending: list[str]) -> list[str]:
    ctx = batch.ctx
    remaining = []
    spent: dict[str, bool] = {}
    for document_id in pending:
        tenant = batch.work[document_id].event.tenant_id
        if tenant not in spent:
            spent[tenant] = await ctx.budget.spent(tenant)
        if not spent[tenant]:
            remaining.append(document_id)
            continue
        reason = (
            f"tenant {tenant!r} used its daily budget of {ctx.budget.daily_tokens} tokens; "
            "analysis resumes after 00:00 UTC"
        )
        with bound_request_id(batch.work[document_id].request_id):
            await repository.mark_unanalyzed(
                ctx.db,
                document_id=document_id,
                status=DocumentStatus.DEFERRED,
                code="tenant_budget_exhausted",
                message=reason,
                now=utc_now(),
            )
            await _publish(batch, document_id, DocumentStatus.DEFERRED, error=reason)
        DOCUMENTS.labels("deferred").inc()
    return remaining


async def _analyze(batch: Batch, pending: list[str]) -> None:
    ctx = batch.ctx
    inputs = [_input(batch, document_id) for document_id in pending]
    hold_s = min(60.0, ctx.settings.quota_probe_interval_s * 2)
    while inputs:
        if not await ctx.gate.wait_open(hold_s):
            raise HoldBatch(ctx.gate.reason or "provider unavailable")
        outcome = await ctx.provider.analyze(inputs)
        truncated = {d.document_id for d in inputs if d.truncated}
        await _store_all(batch, outcome.analyzed, truncated=truncated)
        for document_id, reason in outcome.failed.items():
            with bound_request_id(batch.work[document_id].request_id):
                await _fail(batch, document_id, reason)
        if outcome.quota_blocked:
            ctx.gate.close(outcome.blocked_reason or "insufficient_quota")
        inputs = [d for d in inputs if d.document_id in outcome.quota_blocked]


async def _enqueue(batch: Batch, pending: list[str]) -> None:
    """Batch API mode: persist what the batch runner needs, including the original event bytes
    (for the dead letter), so the Kafka offsets can be committed now."""
    items = []
    for document_id in pending:
        record = batch.work[document_id].record
        items.append(
            {
                "_id": repository.analysis_id(document_id, batch.ctx.settings.prompt_version),
                "document_id": document_id,
                "tenant_id": batch.work[document_id].event.tenant_id,
                "status": repository.QUEUE_PENDING,
                "batch_id": None,
                "attempts": 0,
                "alone": False,
                "payload": record.value or b"",
                "key": record.key,
                "source": {
                    "topic": record.topic,
                    "partition": record.partition,
                    "offset": record.offset,
                },
                "request_id": batch.work[document_id].request_id,
                "created_at": utc_now(),
            }
        )
    await repository.enqueue(batch.ctx.db, items)
    DOCUMENTS.labels("queued_for_batch").inc(len(items))


def batch_from_queue(
    ctx: AnalysisContext, items: list[MongoDocument], documents: dict[str, MongoDocument]
) -> Batch:
    """A Batch rebuilt from queued items, so Batch API results take the same storing,
    failing and dead-lettering path as real-time ones."""
    batch = Batch(ctx, documents=documents)
    for item in items:
        source = item["source"]
        headers = (
            [(REQUEST_ID_HEADER, str(item["request_id"]).encode())]
            if item.get("request_id")
            else []
        )
        record: ConsumerRecord[Any, Any] = ConsumerRecord(
            topic=source["topic"],
            partition=source["partition"],
            offset=source["offset"],
            timestamp=0,
            timestamp_type=0,
            key=item.get("key"),
            value=bytes(item["payload"]),
            checksum=None,
            serialized_key_size=-1,
            serialized_value_size=len(item["payload"]),
            headers=headers,
        )
        event = DocumentIngested.model_validate_json(record.value or b"")
        batch.work[item["document_id"]] = Work(event, record)
    return batch


def prepare_inputs(batch: Batch, document_ids: list[str]) -> list[DocumentInput]:
    return [_input(batch, document_id) for document_id in document_ids]


async def store_results(
    batch: Batch, analyzed: dict[str, Analyzed], *, truncated: set[str]
) -> None:
    await _store_all(batch, analyzed, truncated=truncated)


async def fail_document(batch: Batch, document_id: str, reason: str) -> None:
    with bound_request_id(batch.work[document_id].request_id):
        await _fail(batch, document_id, reason)


def _input(batch: Batch, document_id: str) -> DocumentInput:
    document = batch.documents[document_id]
    return prepare_document(
        document_id=document_id,
        tenant_id=batch.work[document_id].event.tenant_id,
        title=document.get("title"),
        content=str(document.get("content") or ""),
        max_tokens=batch.ctx.settings.max_document_tokens,
        estimator=batch.ctx.estimator,
    )


async def _store_all(batch: Batch, analyzed: dict[str, Analyzed], *, truncated: set[str]) -> None:
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
            _analysis_record(batch, document_id, analysis, truncated=document_id in truncated)
        )
        tokens = usage.prompt_tokens + usage.completion_tokens
        spent_by_tenant[tenant] = spent_by_tenant.get(tenant, 0) + tokens
        TOKENS.labels(model, tenant, "prompt").inc(usage.prompt_tokens)
        TOKENS.labels(model, tenant, "completion").inc(usage.completion_tokens)
        COST.labels(model, tenant).inc(cost)
        DOCUMENTS.labels("analyzed").inc()
    await repository.insert_analyses(ctx.db, records)
    await _apply_all(batch, records)
    for tenant, tokens in spent_by_tenant.items():
        await ctx.budget.add(tenant, tokens)


def _analysis_record(
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


async def _apply_all(batch: Batch, records: list[MongoDocument]) -> None:
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
        *(_publish(batch, r["document_id"], DocumentStatus.ANALYZED) for r in records)
    )


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
    await _dead_letter(batch, document_id, "analysis_failed", reason)
    await _publish(batch, document_id, DocumentStatus.FAILED, error=reason)
    DOCUMENTS.labels("failed").inc()


async def _dead_letter(batch: Batch, document_id: str, error_type: str, message: str) -> None:
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


async def _publish(
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

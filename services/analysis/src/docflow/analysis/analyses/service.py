"""One Kafka batch of DocumentIngested events, from parsing to stored results and events.

Order per document: store the analysis, mark the document, then publish DocumentAnalyzed;
the handler commits the batch's offsets only after all of it. A crash anywhere redelivers
the batch, and every step here is idempotent, so the redelivery stores nothing twice.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from aiokafka import ConsumerRecord
from pydantic import ValidationError

from docflow.analysis.analyses import outcomes, queue, repository
from docflow.analysis.analyses.context import AnalysisContext, Batch, HoldBatch, Work
from docflow.analysis.metrics import DOCUMENTS
from docflow.analysis.settings import AnalysisMode
from docflow.common.clients import MongoDocument
from docflow.common.context import bound_request_id
from docflow.common.documents import DocumentStatus, Usage
from docflow.common.events import DocumentIngested, utc_now
from docflow.common.kafka import SourcePosition, publish_dead_letter

__all__ = ["AnalysisContext", "HoldBatch", "process_batch"]

logger = logging.getLogger(__name__)


async def process_batch(ctx: AnalysisContext, records: Sequence[ConsumerRecord[Any, Any]]) -> None:
    batch = Batch(ctx)
    for record in records:
        await _accept(batch, record)
    if not batch.work:
        return
    batch.documents = await repository.load_documents(ctx.db, list(batch.work))
    for document_id in [i for i in batch.work if i not in batch.documents]:
        await outcomes.dead_letter(
            batch, document_id, "document_not_found", "no such document stored"
        )
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
        # The batch runner (analyses/batch_mode.py) submits them to the Batch API.
        await queue.enqueue(batch, pending)
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
    await outcomes.apply_all(batch, list(stored.values()))
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
        record = outcomes.analysis_record(
            batch, document_id, analysis, truncated=bool(source.get("truncated"))
        )
        record["reused_from"] = source["document_id"]
        records.append(record)
        DOCUMENTS.labels("reused").inc()
    await repository.insert_analyses(batch.ctx.db, records)
    await outcomes.apply_all(batch, records)
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
            await outcomes.publish(batch, document_id, DocumentStatus.DEFERRED, error=reason)
        DOCUMENTS.labels("deferred").inc()
    return remaining


async def _analyze(batch: Batch, pending: list[str]) -> None:
    ctx = batch.ctx
    inputs = [outcomes.document_input(batch, document_id) for document_id in pending]
    hold_s = min(60.0, ctx.settings.quota_probe_interval_s * 2)
    while inputs:
        if not await ctx.gate.wait_open(hold_s):
            raise HoldBatch(ctx.gate.reason or "provider unavailable")
        outcome = await ctx.provider.analyze(inputs)
        truncated = {d.document_id for d in inputs if d.truncated}
        await outcomes.store_all(batch, outcome.analyzed, truncated=truncated)
        for document_id, reason in outcome.failed.items():
            with bound_request_id(batch.work[document_id].request_id):
                await outcomes.fail(batch, document_id, reason)
        if outcome.quota_blocked:
            ctx.gate.close(outcome.blocked_reason or "insufficient_quota")
        inputs = [d for d in inputs if d.document_id in outcome.quota_blocked]

"""One Kafka poll of DocumentIngested events, from parsing to stored results and events.

Order per document: store the analysis, mark the document, then publish DocumentAnalyzed;
the handler commits the poll's offsets only after all of it. A crash anywhere redelivers
the poll, and every step here is idempotent, so the redelivery stores nothing twice.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from typing import Any

from aiokafka import ConsumerRecord
from opentelemetry import trace
from pydantic import ValidationError

from docflow.analysis.analyses import outcomes, queue, repository
from docflow.analysis.analyses.context import HoldPoll, Work, Workload
from docflow.analysis.deps import AnalysisServices
from docflow.analysis.metrics import DOCUMENTS
from docflow.analysis.providers.base import ProviderOutcome
from docflow.analysis.settings import AnalysisMode
from docflow.common.clients import MongoDocument
from docflow.common.documents import DocumentStatus, Usage
from docflow.common.events import DocumentIngested, utc_now
from docflow.common.kafka import SourcePosition, publish_dead_letter
from docflow.common.telemetry import record_span

logger = logging.getLogger(__name__)
_tracer = trace.get_tracer(__name__)


async def process_poll(
    services: AnalysisServices, records: Sequence[ConsumerRecord[Any, Any]]
) -> None:
    realtime = services.settings.analysis_mode is AnalysisMode.REALTIME
    # Before anything is done: a held poll has no effects to repeat when it comes back.
    if realtime and not await services.spend_cap.wait_below(_hold_s(services)):
        raise HoldPoll("daily model spend cap reached")
    workload = Workload(services)
    try:
        for record in records:
            await _accept(workload, record)
        # A poll of one document is handled wholly in its trace (store reads, provider call).
        alone = next(iter(workload.work.values())) if len(workload.work) == 1 else None
        with alone.bound() if alone is not None else contextlib.nullcontext():
            await _process(workload)
    finally:
        for work in workload.work.values():
            if work.span is not None:
                work.span.end()


async def _process(workload: Workload) -> None:
    services = workload.services
    if not workload.work:
        return
    workload.documents = await repository.load_documents(services.db, list(workload.work))
    for document_id in [i for i in workload.work if i not in workload.documents]:
        await outcomes.dead_letter(
            workload, document_id, "document_not_found", "no such document stored"
        )
    hashes = {d.get("content_hash") for d in workload.documents.values()}
    stored, reusable = await repository.related_analyses(
        services.db,
        document_ids=list(workload.documents),
        content_hashes=sorted(h for h in hashes if isinstance(h, str)),
        model=services.provider.model,
        prompt_version=services.settings.prompt_version,
    )
    pending = await _finish_already_analyzed(workload, stored)
    pending = await _reuse_identical_content(workload, pending, reusable)
    pending = await _defer_spent_tenants(workload, pending)
    if services.settings.analysis_mode is not AnalysisMode.REALTIME:
        # The Batch API runner (analyses/batch_api_runner.py) submits them.
        await queue.enqueue(workload, pending)
        return
    pending, twins = _split_twins(workload, pending)
    await _analyze(workload, pending)
    if twins:
        await _copy_to_twins(workload, twins)


def _hold_s(services: AnalysisServices) -> float:
    """How long a poll waits for the model before it is nacked (and fetched again): below
    Kafka's max poll interval."""
    return min(60.0, services.settings.quota_probe_interval_s * 2)


def _split_twins(workload: Workload, pending: list[str]) -> tuple[list[str], list[str]]:
    """Identical content twice in one poll (other tenants) is analyzed once, then copied."""
    first: dict[object, str] = {}
    unique, twins = [], []
    for document_id in pending:
        content_hash = workload.documents[document_id].get("content_hash")
        if content_hash is not None and content_hash in first:
            twins.append(document_id)
        else:
            first.setdefault(content_hash, document_id)
            unique.append(document_id)
    return unique, twins


async def _copy_to_twins(workload: Workload, twins: list[str]) -> None:
    services = workload.services
    hashes = sorted({str(workload.documents[i].get("content_hash")) for i in twins})
    _, reusable = await repository.related_analyses(
        services.db,
        document_ids=[],
        content_hashes=hashes,
        model=services.provider.model,
        prompt_version=services.settings.prompt_version,
    )
    left = await _reuse_identical_content(workload, twins, reusable)
    # The original failed: its twins get their own chance rather than sharing its fate.
    await _analyze(workload, left)


async def _accept(workload: Workload, record: ConsumerRecord[Any, Any]) -> None:
    """Parse one record; an unreadable or unknown-version event is dead-lettered alone."""
    try:
        event = DocumentIngested.model_validate_json(record.value or b"")
    except ValidationError as exc:
        await publish_dead_letter(
            workload.services.broker,
            workload.services.settings,
            payload=record.value or b"",
            error_type="invalid_event",
            error_message=str(exc.errors(include_input=False)[:3]),
            source=SourcePosition(record.topic, record.partition, record.offset),
            key=record.key,
        )
        DOCUMENTS.labels("dead_lettered").inc()
        return
    # A document twice in one poll is analyzed once.
    if event.document_id not in workload.work:
        workload.work[event.document_id] = Work(event, record, record_span(_tracer, record))


async def _finish_already_analyzed(
    workload: Workload, stored: dict[str, MongoDocument]
) -> list[str]:
    """Documents analyzed with this prompt version (a redelivery) or already failed are not
    analyzed again; a stored analysis not yet on its document (crash in between) is applied."""
    pending = []
    for document_id in [i for i in workload.work if i in workload.documents]:
        if document_id in stored:
            DOCUMENTS.labels("skipped").inc()
        elif workload.documents[document_id].get("status") == DocumentStatus.FAILED.value:
            DOCUMENTS.labels("skipped").inc()  # final: its dead letter is already out
        else:
            pending.append(document_id)
    await outcomes.apply_all(workload, list(stored.values()))
    return pending


async def _reuse_identical_content(
    workload: Workload, pending: list[str], reusable: dict[str, MongoDocument]
) -> list[str]:
    """Never pay twice: identical content analyzed by the same model and prompt is copied."""
    remaining, records = [], []
    for document_id in pending:
        source = reusable.get(workload.documents[document_id].get("content_hash") or "")
        if source is None or source["document_id"] == document_id:
            remaining.append(document_id)
            continue
        analysis = {**source["analysis"], "usage": Usage().model_dump(), "cost_usd": 0.0}
        record = outcomes.analysis_record(
            workload, document_id, analysis, truncated=bool(source.get("truncated"))
        )
        record["reused_from"] = source["document_id"]
        records.append(record)
        DOCUMENTS.labels("reused").inc()
    await repository.insert_analyses(workload.services.db, records)
    await outcomes.apply_all(workload, records)
    return remaining


async def _defer_spent_tenants(workload: Workload, pending: list[str]) -> list[str]:
    services = workload.services
    remaining = []
    spent: dict[str, bool] = {}
    for document_id in pending:
        tenant = workload.work[document_id].event.tenant_id
        if tenant not in spent:
            spent[tenant] = await services.budget.spent(tenant)
        if not spent[tenant]:
            remaining.append(document_id)
            continue
        reason = (
            f"tenant {tenant!r} used its daily budget of {services.budget.daily_tokens} tokens; "
            "analysis resumes after 00:00 UTC"
        )
        with workload.work[document_id].bound():
            await repository.mark_unanalyzed(
                services.db,
                document_id=document_id,
                status=DocumentStatus.DEFERRED,
                code="tenant_budget_exhausted",
                message=reason,
                now=utc_now(),
            )
            await outcomes.publish(workload, document_id, DocumentStatus.DEFERRED, error=reason)
        DOCUMENTS.labels("deferred").inc()
    return remaining


async def _analyze(workload: Workload, pending: list[str]) -> None:
    services = workload.services
    inputs = [outcomes.document_input(workload, document_id) for document_id in pending]
    while inputs:
        if not await services.gate.wait_open(_hold_s(services)):
            raise HoldPoll(services.gate.reason or "provider unavailable")
        # Answered before, when storing them failed: stored now, not paid for again.
        paid = services.paid.take(d.document_id for d in inputs)
        unpaid = [d for d in inputs if d.document_id not in paid]
        outcome = await services.provider.analyze(unpaid) if unpaid else ProviderOutcome()
        services.paid.keep(outcome.analyzed)
        outcome.analyzed.update(paid)
        truncated = {d.document_id for d in inputs if d.truncated}
        await outcomes.store_all(workload, outcome.analyzed, truncated=truncated)
        services.paid.drop(outcome.analyzed)
        for document_id, reason in outcome.failed.items():
            with workload.work[document_id].bound():
                await outcomes.fail(workload, document_id, reason)
        if outcome.quota_blocked:
            services.gate.close(outcome.blocked_reason or "insufficient_quota")
        inputs = [d for d in inputs if d.document_id in outcome.quota_blocked]

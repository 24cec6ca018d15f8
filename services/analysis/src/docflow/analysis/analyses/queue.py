"""Batch API mode's queue: documents persisted for the batch runner, and rebuilt from it."""

from __future__ import annotations

from typing import Any

from aiokafka import ConsumerRecord

from docflow.analysis.analyses import repository
from docflow.analysis.analyses.context import AnalysisContext, Batch, Work
from docflow.analysis.metrics import DOCUMENTS
from docflow.common.clients import MongoDocument
from docflow.common.events import REQUEST_ID_HEADER, DocumentIngested, utc_now


async def enqueue(batch: Batch, pending: list[str]) -> None:
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

"""The Batch API path's queue: documents persisted for the Batch API runner, and rebuilt
from it."""

from __future__ import annotations

from typing import Any

from aiokafka import ConsumerRecord

from docflow.analysis.analyses import repository
from docflow.analysis.analyses.context import Work, Workload
from docflow.analysis.deps import AnalysisServices
from docflow.analysis.metrics import DOCUMENTS
from docflow.common.clients import MongoDocument
from docflow.common.events import REQUEST_ID_HEADER, DocumentIngested, utc_now


async def enqueue(workload: Workload, pending: list[str]) -> None:
    """Persist what the Batch API runner needs, including the original event bytes (for the
    dead letter), so the Kafka offsets can be committed now."""
    items = []
    for document_id in pending:
        record = workload.work[document_id].record
        items.append(
            {
                "_id": repository.analysis_id(
                    document_id, workload.services.settings.prompt_version
                ),
                "document_id": document_id,
                "tenant_id": workload.work[document_id].event.tenant_id,
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
                "request_id": workload.work[document_id].request_id,
                "created_at": utc_now(),
            }
        )
    await repository.enqueue(workload.services.db, items)
    DOCUMENTS.labels("queued_for_batch").inc(len(items))


def workload_from_queue(
    services: AnalysisServices, items: list[MongoDocument], documents: dict[str, MongoDocument]
) -> Workload:
    """A workload rebuilt from queued items, so Batch API results take the same storing,
    failing and dead-lettering path as real-time ones."""
    workload = Workload(services, documents=documents)
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
        workload.work[item["document_id"]] = Work(event, record)
    return workload

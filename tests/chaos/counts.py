"""What the system itself says happened: MongoDB's documents, the dead-letter topic, and the
requests the fake provider answered (what a real one would bill).

The drill's own expectations never enter a count: the clients contribute only which ids they were
given (acknowledged), and every other figure is read back from the stores.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from pymongo import AsyncMongoClient

from docflow.common.documents import DOCUMENTS, DocumentStatus
from tests.chaos.cluster import DATABASE, Cluster

REF = re.compile(r"\bref(?P<tag>[a-z0-9]+)n[0-9a-f]{10}\b")
DLQ_TOPIC = "documents.dlq"
UNFINISHED = tuple(status for status in DocumentStatus if status not in ("analyzed", "failed"))


@dataclass
class StoreCounts:
    stored: int  # acknowledged documents found in MongoDB
    lost: int  # acknowledged, not in MongoDB
    analyzed: int
    failed: int
    queued: int  # stored, not (yet) analyzed or failed
    duplicated: int  # the same content stored under more than one id


async def store_counts(cluster: Cluster, tenant: str, acknowledged: set[str]) -> StoreCounts:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        cluster.mongodb_uri, serverSelectionTimeoutMS=10_000
    )
    try:
        documents = client[DATABASE][DOCUMENTS]
        rows = await documents.find(
            {"tenant_id": tenant}, {"_id": 1, "status": 1, "content_hash": 1}
        ).to_list(None)
    finally:
        await client.close()
    by_id = {row["_id"]: row for row in rows}
    statuses = Counter(by_id[i]["status"] for i in acknowledged if i in by_id)
    hashes = Counter(row["content_hash"] for row in rows)
    return StoreCounts(
        stored=sum(statuses.values()),
        lost=len(acknowledged) - sum(statuses.values()),
        analyzed=statuses["analyzed"],
        failed=statuses["failed"],
        queued=sum(n for status, n in statuses.items() if status not in ("analyzed", "failed")),
        duplicated=sum(n - 1 for n in hashes.values() if n > 1),
    )


async def unfinished_ids(cluster: Cluster, tenant: str) -> set[str]:
    """The ids of `tenant`'s documents neither analyzed nor failed: one indexed read per status
    (`tenant_status_created`), so that waiting costs the store what the backlog holds, not the
    whole tenant."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        cluster.mongodb_uri, serverSelectionTimeoutMS=10_000
    )
    try:
        documents = client[DATABASE][DOCUMENTS]
        ids: set[str] = set()
        for status in UNFINISHED:
            rows = documents.find({"tenant_id": tenant, "status": status}, {"_id": 1})
            ids.update([row["_id"] async for row in rows])
        return ids
    finally:
        await client.close()


async def settle(
    cluster: Cluster, tenant: str, acknowledged: set[str], *, timeout_s: float
) -> tuple[StoreCounts, float | None]:
    """Poll until every acknowledged document is analyzed or failed; (counts, when, or None).

    Each second reads only the unfinished documents; the whole tenant is read (`store_counts`)
    once none of `acknowledged` is among them, which also finds any that were never stored.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        counts = None
        try:
            if not acknowledged & await unfinished_ids(cluster, tenant):
                finished_at = time.monotonic()
                counts = await store_counts(cluster, tenant, acknowledged)
                if counts.lost == 0 and counts.queued == 0:
                    return counts, finished_at
        except Exception:  # the store may still be coming back
            pass
        if time.monotonic() > deadline:
            return counts or await store_counts(cluster, tenant, acknowledged), None
        await asyncio.sleep(1.0)


async def dead_letters(cluster: Cluster, tenant: str) -> Counter[str]:
    """The dead letters of `tenant`'s documents, by `error.type`."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=cluster.bootstrap, enable_auto_commit=False, group_id=None
    )
    await consumer.start()
    reasons: Counter[str] = Counter()
    try:
        partitions = consumer.partitions_for_topic(DLQ_TOPIC) or set()
        if not partitions:
            await consumer.topics()  # refresh metadata once
            partitions = consumer.partitions_for_topic(DLQ_TOPIC) or set()
        assigned = [TopicPartition(DLQ_TOPIC, p) for p in partitions]
        if not assigned:
            return reasons
        consumer.assign(assigned)
        await consumer.seek_to_beginning(*assigned)
        ends = await consumer.end_offsets(assigned)
        while [tp for tp in assigned if await consumer.position(tp) < ends[tp]]:
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                for record in records:
                    if record.value is not None and tenant.encode() in record.value:
                        headers = dict(record.headers or ())
                        reasons[headers.get("error.type", b"?").decode(errors="replace")] += 1
    finally:
        await consumer.stop()
    return reasons


# A kill -9 between the provider's answer and the analysis being stored loses that answer too.
KILL_WINDOW_S = 2.0


@dataclass
class Billing:
    requests: int  # answered (billed) requests carrying this scenario's documents
    paid_twice: int  # documents in more than one answered request
    at_kill: int  # of those, documents first answered in flight at the kill (or just before)


def billing(answered: list[dict[str, Any]], tag: str, killed_at: float | None) -> Billing:
    paid: Counter[str] = Counter()
    at_kill: set[str] = set()
    requests = 0
    for request in answered:
        refs = {
            match.group(0)
            for text in request["documents"]
            for match in REF.finditer(text)
            if match.group("tag") == tag
        }
        requests += bool(refs)
        fresh = {ref for ref in refs if ref not in paid}
        paid.update(refs)
        if killed_at is not None and _at_kill(request, killed_at):
            at_kill |= fresh
    twice = {ref for ref, n in paid.items() if n > 1}
    return Billing(requests, len(twice), len(twice & at_kill))


def _at_kill(request: dict[str, Any], killed_at: float) -> bool:
    """Answered to a client already gone, or so shortly before the kill that its analysis was
    not stored yet."""
    answered_at = float(request["answered_at"])
    return bool(request["client_gone"]) or killed_at - KILL_WINDOW_S <= answered_at <= killed_at

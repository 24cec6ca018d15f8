"""Benchmark: 1,000 documents through the analysis service against the rate-limited fake.

Runs the real stack (Kafka, FerretDB, Redis from deploy/local/infra.sh), the fake OpenAI server
at 600 requests/min, 200,000 tokens/min and 100 ms latency, and a real analysis process with
LLM_PROVIDER=openai. Documents are inserted into MongoDB and announced with DocumentIngested,
as ingest does. Two runs: packed requests (the service's defaults), then one document per
request as the baseline. Each run gets a fresh fake server (full rate-limit buckets) and its own
topics and database.

    uv run python tests/perf/bench_analysis.py [--documents 1000] [--only-packed]

A second section runs the OpenAI provider alone (no Kafka, no database) on the same documents in
Kafka-batch-sized chunks, after draining the fake's buckets and one warm-up answer: that is the
limiter's steady state, the figure the rate-limit target is about. Its ceiling counts what the
buckets held at the start (read from the warm-up's headers) plus the refill over the run.

Ceiling: the most documents the two limits allow in the run's duration T, starting from full
buckets as the server does: min((RPM + RPM/60*T) * documents per request,
(TPM + TPM/60*T) / tokens charged per document), where the tokens charged are the prompt plus the
completion reserved (the server charges max_completion_tokens up front; taken as 1.5x the
observed completion, the service's reservation once it has seen answers). The steady-state
ceiling leaves out the initial full buckets: min(RPM * documents per request, TPM / tokens
charged per document) / 60.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import math
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer
from pydantic import SecretStr
from pymongo import AsyncMongoClient

from docflow.analysis.providers.base import DocumentInput
from docflow.analysis.providers.openai.provider import OpenAIProvider, create_client
from docflow.analysis.providers.openai.ratelimit import RateLimiter
from docflow.analysis.providers.tokens import TokenEstimator
from docflow.analysis.settings import AnalysisSettings, LLMProvider
from docflow.common.documents import DOCUMENTS
from docflow.common.events import DocumentIngested, Topic, new_id
from docflow.testing import (
    Isolation,
    ServiceProcess,
    free_port,
    new_isolation,
    produce_raw,
)
from docflow.testing.kafka import BOOTSTRAP

ROOT = Path(__file__).resolve().parents[2]
FAKE = ROOT / "tests" / "fakes" / "openai_server.py"
RPM, TPM, LATENCY_MS = 600, 200_000, 100
WORDS = [
    "revenue",
    "growth",
    "market",
    "cloud",
    "software",
    "customer",
    "contract",
    "team",
    "quarter",
    "strong",
    "weak",
    "record",
    "launch",
    "product",
    "service",
    "partner",
    "region",
    "sales",
    "profit",
    "delay",
    "risk",
]


def document_text(i: int) -> str:
    """Short documents (~25-40 tokens), distinct so none is reused from another."""
    picks = " ".join(WORDS[(i * 7 + k * 3) % len(WORDS)] for k in range(12))
    return f"Report {i}: Acme Corp noted {picks}. Outlook for unit {i % 17} remains stable."


def start_fake(log: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    args = ["--rpm", str(RPM), "--tpm", str(TPM), "--latency-ms", str(LATENCY_MS)]
    process = subprocess.Popen(
        [sys.executable, str(FAKE), "--port", str(port), *args],
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )
    for _ in range(300):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/_admin/stats", timeout=1).status_code == 200:
                return process, port
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError("fake server did not start")


async def run(
    *,
    label: str,
    documents: int,
    per_request: int,
    workdir: Path,
    mongodb_uri: str = "mongodb://127.0.0.1:27017",
    isolation: Isolation | None = None,
    drained: bool = False,
    cap_s: float | None = None,
) -> dict[str, Any]:
    """One run on a fresh database (or on `isolation`'s, which keeps what it holds).

    `drained`: the fake's buckets are emptied first, as a backlog that has run for a while
    finds them, so the ceiling is what they refill (a sustained rate), not a full burst.
    `cap_s`: stop waiting then and report what was analyzed (`capped`); without it, a run not
    done after 15 minutes fails."""
    keep_database = isolation is not None
    isolation = isolation or new_isolation()
    fake, port = start_fake(workdir / f"fake-{label}.log")
    before: dict[str, Any] | None = None
    drained_at = 0.0
    if drained:
        await drain_fake(port)
        drained_at = time.monotonic()
        before = await fake_stats(port)
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri)
    completion_reserve = 300
    env = {
        **isolation.env(),
        "MONGODB_URI": mongodb_uri,
        "LLM_PROVIDER": "openai",
        "OPENAI_API_KEY": "bench-key",
        "OPENAI_BASE_URL": f"http://127.0.0.1:{port}/v1",
        "ANALYSIS_CONSUMER_GROUP": "bench",
        "MAX_DOCUMENTS_PER_REQUEST": str(per_request),
        "RATE_LIMIT_RPM": str(RPM),
        "RATE_LIMIT_TPM": str(TPM),
        "COMPLETION_TOKENS_PER_DOCUMENT": str(completion_reserve),
        "LOG_LEVEL": "WARNING",
    }
    service = ServiceProcess(
        "analysis", env=env, port=free_port(), log_path=workdir / f"{label}.log"
    )
    try:
        texts = [document_text(i) for i in range(documents)]
        stored = [_stored(text) for text in texts]
        collection = mongo[isolation.database][DOCUMENTS]
        await collection.insert_many(stored)
        service.start()
        events = [
            DocumentIngested(
                document_id=d["_id"], tenant_id="default", content_hash=d["content_hash"]
            )
            .model_dump_json()
            .encode()
            for d in stored
        ]
        started = time.monotonic()
        await produce_raw(isolation.topic(Topic.INGESTED), events)
        # Done when every document was announced on documents.analyzed (watching the topic,
        # not polling MongoDB, keeps the measurement from loading the database it measures).
        expected = {d["_id"].encode() for d in stored}
        done = await wait_announced(
            isolation.topic(Topic.ANALYZED), expected, started=started, cap_s=cap_s
        )
        elapsed = time.monotonic() - started
        ids = [d["_id"] for d in stored]
        stored_count = await collection.count_documents({"_id": {"$in": ids}, "status": "analyzed"})
        if stored_count < done or (done == documents and stored_count != documents):
            raise RuntimeError(f"{label}: {stored_count} of {done} stored as analyzed")
        stats = await fake_stats(port)
        if before is not None:
            stats = stats_delta(stats, before)
    finally:
        service.stop()
        fake.terminate()
        if not keep_database:
            await mongo.drop_database(isolation.database)
        await mongo.close()
    own_tokens = sum(math.ceil(len(t) / 4) for t in texts)
    answered = stats["by_status"].get("200", 0)
    rate_limited = stats["by_status"].get("429", 0)
    docs_per_request = stats["documents_total"] / max(1, answered)
    prompt_per_doc = stats["prompt_tokens_total"] / max(1, done)
    completion_per_doc = stats["completion_tokens_total"] / max(1, done)
    # What the server charged per document: the prompt plus the completion reserved (an upper
    # bound: the service lowers its reservation once it has seen real answers). At least one
    # token: a capped run may have had no answer at all.
    charged_per_doc = max(1.0, prompt_per_doc + completion_per_doc * 1.5)
    # What the buckets held at the first event: full, or what refilled since the drain.
    held_requests, held_tokens = float(RPM), float(TPM)
    if drained:
        head = started - drained_at
        held_requests, held_tokens = min(RPM, RPM / 60 * head), min(TPM, TPM / 60 * head)
    rpm_docs = (held_requests + RPM / 60 * elapsed) * docs_per_request
    tpm_docs = (held_tokens + TPM / 60 * elapsed) / charged_per_doc
    ceiling = max(1e-9, min(rpm_docs, tpm_docs) / elapsed)
    steady = max(1e-9, min(RPM * docs_per_request, TPM / charged_per_doc) / 60)
    throughput = done / elapsed
    return {
        "label": label,
        "analyzed": done,
        "capped": done < documents,
        "seconds": elapsed,
        "docs_per_s": throughput,
        "ceiling_docs_per_s": ceiling,
        "share_of_ceiling": min(throughput / ceiling, 9.99),
        "steady_ceiling_docs_per_s": steady,
        "share_of_steady_ceiling": throughput / steady,
        "requests_per_100_docs": stats["requests_total"] / documents * 100,
        "docs_per_request": docs_per_request,
        "overhead_prompt_tokens_per_doc": (stats["prompt_tokens_total"] - own_tokens) / documents,
        "share_429": rate_limited / max(1, stats["requests_total"]),
        "binding_limit": "RPM" if rpm_docs < tpm_docs else "TPM",
    }


async def wait_announced(
    topic: str, expected: set[bytes], *, started: float, cap_s: float | None = None
) -> int:
    """Until every expected document id was the key of a DocumentAnalyzed event (or `cap_s`
    passed); how many were."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=BOOTSTRAP, auto_offset_reset="earliest", group_id=None
    )
    await consumer.start()
    seen: set[bytes] = set()
    try:
        while len(seen) < len(expected):
            if cap_s is not None and time.monotonic() - started > cap_s:
                break
            if time.monotonic() - started > 900:
                raise RuntimeError(f"not done after 15 minutes ({len(seen)} of {len(expected)})")
            batches = await consumer.getmany(timeout_ms=200)
            for records in batches.values():
                seen.update(r.key for r in records if r.key in expected)
    finally:
        await consumer.stop()
    return len(seen)


async def fake_stats(port: int) -> dict[str, Any]:
    async with httpx.AsyncClient() as client:
        stats: dict[str, Any] = (await client.get(f"http://127.0.0.1:{port}/_admin/stats")).json()
        return stats


def stats_delta(after: dict[str, Any], before: dict[str, Any]) -> dict[str, Any]:
    keys = ("requests_total", "documents_total", "prompt_tokens_total", "completion_tokens_total")
    delta = {key: after[key] - before[key] for key in keys}
    statuses = set(after["by_status"]) | set(before["by_status"])
    delta["by_status"] = {
        code: after["by_status"].get(code, 0) - before["by_status"].get(code, 0)
        for code in statuses
    }
    return delta


async def drain_fake(port: int) -> None:
    """Empty the fake's buckets, as a backlog that has run for a while would have: one request
    as large as the TPM limit allows, then requests until the RPM bucket is empty."""
    url = f"http://127.0.0.1:{port}/v1/chat/completions"
    headers = {"authorization": "Bearer drain"}
    big = "x" * ((TPM - 200) * 4)
    async with httpx.AsyncClient(headers=headers, timeout=60) as client:
        body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": big}]}
        await client.post(url, json=body)
        tiny = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
        semaphore = asyncio.Semaphore(50)

        async def one() -> None:
            async with semaphore:
                await client.post(url, json=tiny)

        await asyncio.gather(*(one() for _ in range(RPM)))


async def run_provider_only(
    *, label: str, documents: int, per_request: int, workdir: Path
) -> dict[str, Any]:
    """The OpenAI provider alone (no Kafka, no database), fed Kafka-batch-sized chunks one after
    the other as the handler does, against drained buckets: the limiter's steady state."""
    fake, port = start_fake(workdir / f"fake-{label}.log")
    settings = AnalysisSettings(
        llm_provider=LLMProvider.OPENAI,
        openai_api_key=SecretStr("bench-key"),
        openai_base_url=f"http://127.0.0.1:{port}/v1",
        max_documents_per_request=per_request,
        rate_limit_rpm=RPM,
        rate_limit_tpm=TPM,
    )
    estimator = TokenEstimator()
    limiter = RateLimiter(rpm=RPM, tpm=TPM)
    provider = OpenAIProvider(
        settings=settings, client=create_client(settings), limiter=limiter, estimator=estimator
    )
    try:
        await drain_fake(port)
        # Warm-up: one answer teaches the limiter the server's state, as in a running service.
        await provider.analyze([DocumentInput("warm-up", "default", document_text(-1))])
        # What the buckets still hold now (the drain took a moment, the server refilled).
        start_requests, start_tokens = limiter.requests.level, limiter.tokens.level
        # Counters are compared before and after (a reset would also refill the buckets).
        before = await fake_stats(port)
        texts = [document_text(i) for i in range(documents)]
        inputs = [DocumentInput(f"d{i}", "default", t) for i, t in enumerate(texts)]
        chunk = settings.consumer_max_records
        started = time.monotonic()
        analyzed = 0
        for start in range(0, documents, chunk):
            outcome = await provider.analyze(inputs[start : start + chunk])
            analyzed += len(outcome.analyzed)
        elapsed = time.monotonic() - started
        stats = stats_delta(await fake_stats(port), before)
    finally:
        await provider.aclose()
        fake.terminate()
    if analyzed != documents:
        raise RuntimeError(f"{label}: {analyzed} of {documents} analyzed")
    answered = stats["by_status"].get("200", 0)
    docs_per_request = stats["documents_total"] / max(1, answered)
    reserve = estimator.completion_reserve(ceiling=settings.completion_tokens_per_document)
    charged = stats["prompt_tokens_total"] / documents + reserve + 20 / docs_per_request
    steady = min(RPM * docs_per_request, TPM / charged) / 60
    ceiling = (
        min(
            (max(0.0, start_requests) + RPM / 60 * elapsed) * docs_per_request,
            (max(0.0, start_tokens) + TPM / 60 * elapsed) / charged,
        )
        / elapsed
    )
    throughput = documents / elapsed
    own_tokens = sum(math.ceil(len(t) / 4) for t in texts)
    return {
        "label": label,
        "seconds": elapsed,
        "docs_per_s": throughput,
        "ceiling_docs_per_s": ceiling,
        "share_of_ceiling": throughput / ceiling,
        "steady_ceiling_docs_per_s": steady,
        "share_of_steady_ceiling": throughput / steady,
        "requests_per_100_docs": stats["requests_total"] / documents * 100,
        "docs_per_request": docs_per_request,
        "overhead_prompt_tokens_per_doc": (stats["prompt_tokens_total"] - own_tokens) / documents,
        "share_429": stats["by_status"].get("429", 0) / max(1, stats["requests_total"]),
        "binding_limit": "RPM" if RPM * docs_per_request < TPM / charged else "TPM",
    }


def _stored(content: str) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "_id": new_id(),
        "tenant_id": "default",
        "title": None,
        "content": content,
        "source": "bench",
        "content_type": "text/plain",
        "metadata": None,
        "content_hash": hashlib.sha256(content.encode()).hexdigest(),
        "status": "queued",
        "created_at": now,
        "updated_at": now,
        "analysis": None,
        "error": None,
        "origin": "api",
        "published": True,
    }


def report(result: dict[str, Any]) -> None:
    print(
        f"{result['label']:<10} {result['seconds']:7.1f} s  {result['docs_per_s']:7.2f} docs/s  "
        f"ceiling {result['ceiling_docs_per_s']:7.2f} docs/s ({result['binding_limit']})  "
        f"reached {result['share_of_ceiling']:6.1%}  "
        f"(steady-state ceiling {result['steady_ceiling_docs_per_s']:6.2f} docs/s, "
        f"reached {result['share_of_steady_ceiling']:6.1%})  "
        f"requests/100 docs {result['requests_per_100_docs']:6.1f}  "
        f"docs/request {result['docs_per_request']:5.2f}  "
        f"extra prompt tokens/doc {result['overhead_prompt_tokens_per_doc']:6.1f}  "
        f"429s {result['share_429']:6.2%}"
    )


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--documents", type=int, default=1000)
    parser.add_argument("--only-packed", action="store_true", help="skip the baseline run")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-analysis-"))
    print(
        f"analysis benchmark: {args.documents} documents, fake at {RPM} RPM, {TPM} TPM, "
        f"{LATENCY_MS} ms latency (logs in {workdir})"
    )
    print("through the real stack (Kafka + FerretDB + a real analysis process):")
    packed = await run(label="packed", documents=args.documents, per_request=16, workdir=workdir)
    report(packed)
    if not args.only_packed:
        baseline = await run(
            label="baseline", documents=args.documents, per_request=1, workdir=workdir
        )
        report(baseline)
        compare(packed, baseline)
    print("the provider path alone (limiter steady state: buckets drained, no Kafka/database):")
    alone = await run_provider_only(
        label="packed", documents=args.documents, per_request=16, workdir=workdir
    )
    report(alone)
    if not args.only_packed:
        alone_baseline = await run_provider_only(
            label="baseline", documents=args.documents, per_request=1, workdir=workdir
        )
        report(alone_baseline)
        compare(alone, alone_baseline)


def compare(packed: dict[str, Any], baseline: dict[str, Any]) -> None:
    speed = packed["docs_per_s"] / baseline["docs_per_s"]
    requests = baseline["requests_per_100_docs"] / packed["requests_per_100_docs"]
    overhead = baseline["overhead_prompt_tokens_per_doc"] / max(
        1e-9, packed["overhead_prompt_tokens_per_doc"]
    )
    print(
        f"packed vs one-per-request: {speed:.2f}x documents/s, {requests:.1f}x fewer requests, "
        f"{overhead:.1f}x fewer overhead prompt tokens per document"
    )


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    asyncio.run(main())

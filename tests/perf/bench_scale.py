"""Benchmark: the embedded store at scale, stock FerretDB against docflow's patched build.

For each engine (deploy/local/install.sh --stock builds the unpatched binary beside the patched
one), a private FerretDB is preloaded with analyzed documents (inserted directly, in commands of
1,000, timed), the three services run as processes against it on a private slice of the shared
Kafka and Redis, and the same measurements are taken side by side:

- documents analyzed per second with the local analyzer: new documents POSTed through
  `/v1/documents/batch` (4 clients, 100 per request), from the first POST until the last
  DocumentAnalyzed event (the topic is watched, the database is not polled), at 1,000 stored
  and at 50,000 stored. Runs are capped in time; a capped run says so and reports its rate;
- `GET /v1/documents/{id}` with the query cache off (every read misses): p50 and requests/s
  with 16 concurrent clients (wrk, 16 connections, random ids);
- a filtered list page (`keyword`, `status`, `sentiment`, newest first, `limit=20`) and
  `/v1/stats`, cache off, one client: p50;
- analysis with the openai provider against the fake server at 600 RPM / 200,000 TPM through
  the real stack (tests/perf/bench_analysis.py's run, on the preloaded database): share of the
  rate-limit ceiling reached. The fake's buckets are drained first, as a backlog finds them,
  so the ceiling is the sustained rate they refill at (plus what refilled before the first
  event), not the one-off burst of full buckets that a short run would mostly measure.

The stock engine is measured on fewer new documents (`--stock-new`) and shorter windows: it
analyzes about one document per second at this size, and every other figure it gives is
seconds. The load average of the machine is printed after each phase.

Every request carries an API key of tenant `default` (the preloaded documents' tenant), created
in each stack's database when its services start: wrk sends it with its `-H` option, httpx as a
default header.

    uv run python tests/perf/bench_scale.py [--stored 50000] [--small 1000] [--new 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psutil
from aiokafka import AIOKafkaConsumer
from pymongo import AsyncMongoClient

from docflow.common.documents import DOCUMENTS
from docflow.common.events import Topic, new_id
from docflow.testing import (
    FERRETDB_BIN,
    Isolation,
    OwnServer,
    ServiceProcess,
    ferretdb_server,
    free_port,
    new_isolation,
)
from docflow.testing.kafka import BOOTSTRAP

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root
from tests.perf import bench_analysis, bench_query
from tests.perf.credentials import authorization, bench_key

FERRETDB_STOCK_BIN = FERRETDB_BIN.with_name("ferretdb-stock")
KEYWORDS = [f"topic{i}" for i in range(40)]  # each document has 3 of them
LANGUAGES = ["en"] * 6 + ["de", "fr", "es", "it"]
SENTIMENTS = ["positive", "neutral", "negative", "mixed"]
LIST_QUERY = {"keyword": "topic7", "status": "analyzed", "sentiment": "positive", "limit": "20"}
Doc = dict[str, Any]


def stored_document(i: int, now: datetime) -> Doc:
    """An analyzed document as analysis stores it, a second older per index."""
    rng = random.Random(i)
    created = now - timedelta(seconds=i)
    content = f"Stored report {i}: " + " ".join(rng.choices(KEYWORDS, k=30))
    return {
        "_id": new_id(),
        "tenant_id": "default",
        "title": f"Report {i}",
        "content": content,
        "source": rng.choice(["crm", "mail", "web"]),
        "content_type": "text/plain",
        "metadata": None,
        "content_hash": f"preload-{i}",
        "status": "analyzed" if i % 20 else "failed",
        "created_at": created,
        "updated_at": created,
        "analysis": {
            "summary": content[:120],
            "language": rng.choice(LANGUAGES),
            "sentiment": {"label": rng.choice(SENTIMENTS), "score": 0.1},
            "keywords": rng.sample(KEYWORDS, 3),
            "entities": [],
            "categories": ["report"],
            "provider": "local",
            "model": "local",
            "prompt_version": "v1",
            "usage": {"prompt_tokens": 0, "completion_tokens": 0},
            "cost_usd": 0.0,
            "analyzed_at": created,
        }
        if i % 20
        else None,
        "error": None if i % 20 else {"code": "x", "message": "x"},
        "origin": "api",
        "published": True,
    }


async def preload(uri: str, database: str, count: int) -> float:
    """Insert `count` analyzed documents; the seconds it took."""
    client: AsyncMongoClient[Doc] = AsyncMongoClient(uri)
    collection = client[database][DOCUMENTS]
    now = datetime.now(UTC) - timedelta(days=1)
    started = time.monotonic()
    for start in range(0, count, 1000):
        await collection.insert_many(
            [stored_document(i, now) for i in range(start, min(count, start + 1000))]
        )
    elapsed = time.monotonic() - started
    await client.close()
    return elapsed


@dataclass
class Stack:
    engine: str
    workdir: Path
    ferretdb: OwnServer
    isolation: Isolation = field(default_factory=new_isolation)
    services: dict[str, ServiceProcess] = field(default_factory=dict)
    key: str = ""  # an API key of tenant `default` in the stack's database, from start_services

    @property
    def uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.ferretdb.port}"

    async def start_services(self) -> None:
        self.key = await bench_key(mongodb_uri=self.uri, database=self.isolation.database)
        env = {
            **self.isolation.env(),
            "MONGODB_URI": self.uri,
            "LLM_PROVIDER": "local",
            "LOG_LEVEL": "WARNING",
            "ACCESS_LOG": "false",
            "RATE_LIMIT_DEFAULT": "10000000/minute",
            "CACHE_DOCUMENT_TTL_S": "0",
            "CACHE_LIST_TTL_S": "0",
            "CACHE_STATS_TTL_S": "0",
            "CACHE_NOT_FOUND_TTL_S": "0",
        }
        # query first: it creates the indexes the others' queries use too
        for name in ("query", "ingest", "analysis"):
            log = self.workdir / f"{self.engine}-{name}.log"
            process = ServiceProcess(name, env=env, port=free_port(), log_path=log)
            self.services[name] = process.start(ready_timeout_s=180)

    def stop(self) -> None:
        for process in self.services.values():
            process.stop()
        self.ferretdb.stop()


def start_stack(engine: str, workdir: Path) -> Stack:
    binary = FERRETDB_STOCK_BIN if engine == "stock" else FERRETDB_BIN
    if not binary.exists():
        raise SystemExit(f"{binary} missing: run `bash deploy/local/install.sh --stock` first")
    data = workdir / f"{engine}-{new_id()[:8]}"
    data.mkdir()
    server = ferretdb_server(data, port=free_port(), binary=binary).start()
    return Stack(engine=engine, workdir=workdir, ferretdb=server)


def new_document(i: int, run: str) -> Doc:
    rng = random.Random(f"{run}-{i}")
    words = " ".join(rng.choices([*KEYWORDS, "growth", "delay", "record", "risk"], k=25))
    return {"title": f"New {i}", "content": f"New report {run} {i}: {words}.", "source": "bench"}


async def analyzed_throughput(stack: Stack, *, documents: int, cap_s: float) -> dict[str, Any]:
    """POST `documents` new documents; documents analyzed per second until the last (or cap)."""
    consumer = AIOKafkaConsumer(
        stack.isolation.topic(Topic.ANALYZED),
        bootstrap_servers=BOOTSTRAP,
        auto_offset_reset="earliest",
        group_id=None,
    )
    await consumer.start()
    run = new_id()[:8]
    bodies = [
        {"documents": [new_document(i, run) for i in range(start, min(documents, start + 100))]}
        for start in range(0, documents, 100)
    ]
    ingest = stack.services["ingest"].url
    seen: set[bytes] = set()
    started = time.monotonic()

    async def post_all() -> None:
        queue = list(reversed(bodies))
        headers = authorization(stack.key)
        async with httpx.AsyncClient(base_url=ingest, headers=headers, timeout=120) as client:

            async def poster() -> None:
                while queue:
                    response = await client.post("/v1/documents/batch", json=queue.pop())
                    response.raise_for_status()

            await asyncio.gather(*(poster() for _ in range(4)))

    posting = asyncio.create_task(post_all())
    try:
        while len(seen) < documents and time.monotonic() - started < cap_s:
            batches = await consumer.getmany(timeout_ms=200)
            for records in batches.values():
                seen.update(r.key for r in records if r.key is not None)
            if posting.done() and posting.exception() is not None:
                raise RuntimeError("posting failed") from posting.exception()
    finally:
        await consumer.stop()
        posting.cancel()
    elapsed = time.monotonic() - started
    return {
        "analyzed": len(seen),
        "of": documents,
        "seconds": elapsed,
        "per_s": len(seen) / elapsed,
        "capped": len(seen) < documents,
    }


async def timed_requests(
    url: str,
    paths: Callable[[], str],
    *,
    key: str,
    clients: int,
    seconds: float,
    max_requests: int,
) -> dict[str, Any]:
    """`clients` loops of GETs for `seconds` (or `max_requests` in all): p50, p95, req/s."""
    latencies: list[float] = []
    failures: dict[int, int] = {}
    deadline = time.monotonic() + seconds
    started = time.monotonic()
    headers = authorization(key)
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=120) as client:

        async def loop() -> None:
            while time.monotonic() < deadline and len(latencies) < max_requests:
                begun = time.perf_counter()
                response = await client.get(paths())
                latencies.append(time.perf_counter() - begun)
                if response.status_code != 200:  # stock FerretDB's reads may time out (503)
                    failures[response.status_code] = failures.get(response.status_code, 0) + 1

        await asyncio.gather(*(loop() for _ in range(clients)))
    elapsed = time.monotonic() - started
    ordered = sorted(latencies)
    return {
        "p50_ms": statistics.median(ordered) * 1000,
        "p95_ms": ordered[int(len(ordered) * 0.95) - 1 if len(ordered) > 1 else 0] * 1000,
        "per_s": len(latencies) / elapsed,
        "requests": len(latencies),
        "failures": failures,
    }


async def reads(stack: Stack, *, seconds: float, max_requests: int) -> dict[str, Any]:
    client: AsyncMongoClient[Doc] = AsyncMongoClient(stack.uri)
    ids = [
        d["_id"]
        async for d in client[stack.isolation.database][DOCUMENTS].find({}, {"_id": 1}).limit(5000)
    ]
    await client.close()
    query = stack.services["query"].url
    # wrk (bench_query's script over random ids): a Python client would take the CPU it measures
    (stack.workdir / "ids.txt").write_text("\n".join(ids))
    (stack.workdir / "ids.lua").write_text(bench_query.WRK_IDS_SCRIPT)
    processes = {
        "query": psutil.Process(stack.services["query"].process.pid),  # type: ignore[union-attr]
        "ferretdb": psutil.Process(stack.ferretdb.process.pid),  # type: ignore[union-attr]
    }
    cpu_before = {name: sum(p.cpu_times()[:2]) for name, p in processes.items()}
    wrk = bench_query.run_wrk(
        "by id",
        query,
        script=stack.workdir / "ids.lua",
        ids_file=stack.workdir / "ids.txt",
        key=stack.key,
        args=argparse.Namespace(threads=2, connections=16, duration=max(1, int(seconds))),
    )
    requests = max(1.0, wrk.rps * max(1, int(seconds)))
    cpu_ms = {
        name: (sum(p.cpu_times()[:2]) - cpu_before[name]) * 1000 / requests
        for name, p in processes.items()
    }
    # one connection: the latency of one read, where 16 measure what the machine serves
    alone = bench_query.run_wrk(
        "by id, one client",
        query,
        script=stack.workdir / "ids.lua",
        ids_file=stack.workdir / "ids.txt",
        key=stack.key,
        args=argparse.Namespace(threads=1, connections=1, duration=max(1, int(seconds) // 3)),
    )
    by_id = {
        "p50_ms": wrk.p50_ms,
        "p99_ms": wrk.p99_ms,
        "per_s": wrk.rps,
        "errors": wrk.errors,
        "cpu_ms_per_request": {name: round(ms, 2) for name, ms in cpu_ms.items()},
        "one_client_p50_ms": alone.p50_ms,
    }
    listing = "/v1/documents?" + "&".join(f"{k}={v}" for k, v in LIST_QUERY.items())
    page = await timed_requests(
        query, lambda: listing, key=stack.key, clients=1, seconds=seconds, max_requests=max_requests
    )
    # the same without the keyword: what the indexes answer alone (see the README)
    indexed = {k: v for k, v in LIST_QUERY.items() if k != "keyword"}
    indexed_listing = "/v1/documents?" + "&".join(f"{k}={v}" for k, v in indexed.items())
    indexed_page = await timed_requests(
        query,
        lambda: indexed_listing,
        key=stack.key,
        clients=1,
        seconds=seconds,
        max_requests=max_requests,
    )
    stats = await timed_requests(
        query,
        lambda: "/v1/stats",
        key=stack.key,
        clients=1,
        seconds=seconds,
        max_requests=max_requests,
    )
    return {"by_id": by_id, "list": page, "list_indexed": indexed_page, "stats": stats}


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load {one:.2f} (1 min), {five:.2f} (5 min)"


async def measure_engine(engine: str, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    stock = engine == "stock"
    new = args.stock_new if stock else args.new
    cap = args.stock_cap_s if stock else args.cap_s
    result: dict[str, Any] = {}

    small = start_stack(engine, workdir)
    try:
        await small.start_services()
        await preload(small.uri, small.isolation.database, args.small)
        result["small"] = await analyzed_throughput(small, documents=new, cap_s=cap)
        print(f"  [{engine}] {args.small:,} stored: {result['small']} ({load()})")
    finally:
        small.stop()

    big = start_stack(engine, workdir)
    try:
        await big.start_services()
        result["load_s"] = await preload(big.uri, big.isolation.database, args.stored)
        print(f"  [{engine}] loaded {args.stored:,} in {result['load_s']:.1f} s ({load()})")
        result["big"] = await analyzed_throughput(big, documents=new, cap_s=cap)
        print(f"  [{engine}] {args.stored:,} stored: {result['big']} ({load()})")
        window = args.stock_read_s if stock else args.read_s
        result["reads"] = await reads(
            big, seconds=window, max_requests=args.stock_reads if stock else 10**9
        )
        print(f"  [{engine}] reads: {result['reads']} ({load()})")
        for process in big.services.values():
            process.stop()
        openai_documents = args.stock_openai if stock else args.openai
        # the preloaded database, fresh topics: the local run's events are not replayed
        openai_isolation = dataclasses.replace(new_isolation(), database=big.isolation.database)
        result["openai"] = await bench_analysis.run(
            label=engine,
            documents=openai_documents,
            per_request=16,
            workdir=workdir,
            mongodb_uri=big.uri,
            isolation=openai_isolation,
            drained=True,
            cap_s=cap,
        )
        print(f"  [{engine}] openai: {result['openai']} ({load()})")
    finally:
        big.stop()
    return result


def table(results: dict[str, dict[str, Any]], args: argparse.Namespace) -> None:
    engines = list(results)
    rows: list[tuple[str, Callable[[dict[str, Any]], str], str]] = [
        (f"preload {args.stored:,} documents", lambda r: f"{r['load_s']:.1f} s", ""),
        (
            f"analyzed/s, local, {args.small:,} stored",
            lambda r: throughput(r["small"]),
            "",
        ),
        (
            f"analyzed/s, local, {args.stored:,} stored",
            lambda r: throughput(r["big"]),
            ">= 50/s, no slower than at 1,000",
        ),
        (
            "GET by id, cache miss, 16 clients",
            lambda r: (
                f"p50 {r['reads']['by_id']['p50_ms']:.1f} ms, {r['reads']['by_id']['per_s']:.0f}/s"
            ),
            "p50 <= 10 ms",
        ),
        (
            "GET by id, cache miss, 1 client",
            lambda r: f"p50 {r['reads']['by_id']['one_client_p50_ms']:.1f} ms",
            "",
        ),
        (
            "CPU ms per GET (query, FerretDB)",
            lambda r: "{query:.2f}, {ferretdb:.2f}".format(
                **r["reads"]["by_id"]["cpu_ms_per_request"]
            ),
            "",
        ),
        (
            "list page (keyword+status+sentiment)",
            lambda r: (
                f"p50 {r['reads']['list']['p50_ms']:.1f} ms "
                f"({r['reads']['list']['requests']}{failed(r['reads']['list'])})"
            ),
            "p50 <= 100 ms",
        ),
        (
            "list page (status+sentiment)",
            lambda r: (
                f"p50 {r['reads']['list_indexed']['p50_ms']:.1f} ms "
                f"({r['reads']['list_indexed']['requests']}{failed(r['reads']['list_indexed'])})"
            ),
            "",
        ),
        (
            "/v1/stats, cache miss",
            lambda r: (
                f"p50 {r['reads']['stats']['p50_ms']:.1f} ms "
                f"({r['reads']['stats']['requests']}{failed(r['reads']['stats'])})"
            ),
            "p50 <= 100 ms",
        ),
        (
            "openai at 600 RPM/200k TPM",
            lambda r: (
                f"{r['openai']['share_of_ceiling']:.0%} of ceiling "
                f"({r['openai']['docs_per_s']:.1f}/s{', capped' if r['openai']['capped'] else ''})"
            ),
            ">= 90 %",
        ),
    ]
    print()
    print(f"{'':40}" + "".join(f"{e:>30}" for e in engines) + "   goal")
    for name, cell, goal in rows:
        print(f"{name:40}" + "".join(f"{cell(results[e]):>30}" for e in engines) + f"   {goal}")
    if "stock" in results and "patched" in results:
        s, p = results["stock"], results["patched"]
        print(
            f"patched/stock: analyzed/s at {args.stored:,} {ratio(p['big'], s['big'])}, "
            f"GET by id p50 {s['reads']['by_id']['p50_ms'] / p['reads']['by_id']['p50_ms']:.0f}x "
            f"faster, list p50 {s['reads']['list']['p50_ms'] / p['reads']['list']['p50_ms']:.0f}x, "
            f"stats p50 {s['reads']['stats']['p50_ms'] / p['reads']['stats']['p50_ms']:.0f}x "
            "(stock's list and stats p50 are the 503s of the service's MongoDB timeout)"
        )
    print(load())


def ratio(patched: dict[str, Any], stock: dict[str, Any]) -> str:
    if stock["per_s"] == 0:
        return f"(stock analyzed none in {stock['seconds']:.0f} s)"
    return f"{patched['per_s'] / stock['per_s']:.0f}x"


def failed(timed: dict[str, Any]) -> str:
    failures = timed.get("failures") or {}
    return "".join(f", {count} x {status}" for status, count in sorted(failures.items()))


def throughput(run: dict[str, Any]) -> str:
    capped = f", capped at {run['seconds']:.0f} s" if run["capped"] else ""
    return f"{run['per_s']:.1f}/s ({run['analyzed']:,}/{run['of']:,}{capped})"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stored", type=int, default=50_000)
    parser.add_argument("--small", type=int, default=1_000)
    parser.add_argument("--new", type=int, default=10_000)
    parser.add_argument("--cap-s", type=float, default=900)
    parser.add_argument("--read-s", type=float, default=15)
    parser.add_argument("--openai", type=int, default=1_000)
    parser.add_argument("--engines", default="stock,patched")
    parser.add_argument("--stock-new", type=int, default=300)
    parser.add_argument("--stock-cap-s", type=float, default=120)
    parser.add_argument("--stock-read-s", type=float, default=30)
    parser.add_argument("--stock-reads", type=int, default=5, help="requests per client at most")
    parser.add_argument("--stock-openai", type=int, default=100)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    print(f"scale benchmark: {args.stored:,} stored, logs in {workdir} ({load()})")
    results: dict[str, dict[str, Any]] = {}
    for engine in args.engines.split(","):
        print(f"{engine}:")
        results[engine] = await measure_engine(engine, args, workdir)
    table(results, args)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    asyncio.run(main())

"""Benchmark of the query service's reads against a bare FastAPI endpoint, measured in one run.

    uv run python tests/perf/bench_query.py [--documents 10000] [--duration 15] [--profile]

What it does, on a FerretDB and a Redis of its own (so other work on the machine neither slows
them nor sees the load) and the shared Kafka (deploy/local/infra.sh up):
1. loads `--documents` analyzed documents into a database of its own (insert_many);
2. starts the real query service as a subprocess (one uvicorn worker, the production entry
   point) with rate limiting ON (a limit of 100,000,000/minute, so that the benchmark is counted
   against it but never refused) and its JSON access log ON (written to a file);
3. starts a second query service with `CACHE_DOCUMENT_TTL_S=0` (every read goes to MongoDB);
4. starts a bare FastAPI app (one worker) returning a constant body exactly as long as a cached
   document response, on the same route, behind one middleware: a bearer check that looks the
   token up in a dict (tests/perf/credentials.py). The baseline authenticates because docflow
   does: without it the ratio would charge docflow for authentication that the baseline
   skips. The check is docflow's on a cache hit less the SHA-256 of the key, so it is, if
   anything, the cheaper of the two;
5. creates an API key (tenant `default`, the documents' tenant) in the services' database,
   fills the cache for every id (see `prefill_cache`), checks through the service that a
   sample is served from it (hits counted on `/metrics`, on the operations port), then runs
   `wrk -t2 -c64 -d15s --latency` over random ids, the key in wrk's `-H` header option, for:
   cached GET by id, uncached GET by id, and the bare endpoint;
6. prints requests/s, p50 and p99 for each and the cached/bare ratio (target >= 0.6, p99 <
   25 ms); with `--profile`, runs the cached load once more under pyinstrument
   (tests/perf/profiled.py) and prints the top of the profile.

`--serve-bare PORT SIZE` is the bare app itself (used by step 4).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from pymongo import AsyncMongoClient

from docflow.testing import (
    OwnServer,
    ServiceProcess,
    ferretdb_server,
    free_port,
    redis_server,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root
from tests.perf.credentials import (
    KEY_ENV,
    BearerCheck,
    authorization,
    baseline_tokens,
    new_key,
    wrk_options,
)

REPO = Path(__file__).resolve().parents[2]
PROFILED = Path(__file__).with_name("profiled.py")  # a service's run() under pyinstrument
RATE_LIMIT = "100000000/minute"  # counted on every request, never reached by the benchmark
READY_TIMEOUT_S = 600.0  # index builds over the preloaded documents, on 2 shared cores

_WORDS = [
    "revenue",
    "growth",
    "quarter",
    "customer",
    "contract",
    "renewal",
    "pipeline",
    "forecast",
    "margin",
    "supplier",
    "shipment",
    "delay",
    "invoice",
    "support",
    "ticket",
    "outage",
    "latency",
    "release",
    "roadmap",
    "churn",
    "pricing",
    "discount",
    "partner",
    "launch",
    "market",
    "share",
    "audit",
    "compliance",
    "hiring",
    "budget",
    "expansion",
    "region",
]
_LANGUAGES = ["en", "en", "en", "de", "fr", "es"]
_SENTIMENTS = [("positive", 0.6), ("neutral", 0.0), ("negative", -0.5), ("mixed", 0.1)]
_SOURCES = ["crm", "email", "support", "upload", "kafka"]

WRK_IDS_SCRIPT = """
local ids = {}
local path = "/v1/documents/"
init = function(args)
  for line in io.lines(args[1]) do ids[#ids + 1] = line end
  math.randomseed(os.time() + math.floor(os.clock() * 1000000))
end
request = function()
  return wrk.format("GET", path .. ids[math.random(#ids)])
end
"""


def _sentence(rng: random.Random) -> str:
    words = rng.choices(_WORDS, k=rng.randint(8, 16))
    return " ".join(words).capitalize() + "."


def make_document(rng: random.Random, created_at: datetime) -> dict[str, Any]:
    content = " ".join(_sentence(rng) for _ in range(rng.randint(4, 7)))
    label, score = rng.choice(_SENTIMENTS)
    keywords = rng.sample(_WORDS, 5)
    return {
        "_id": uuid.uuid4().hex,
        "tenant_id": "default",
        "title": _sentence(rng)[:60],
        "content": content,
        "source": rng.choice(_SOURCES),
        "external_id": f"ext-{rng.randint(1, 10**6)}",
        "content_type": "text/plain",
        "metadata": {
            "team": rng.choice(["sales", "ops", "support"]),
            "priority": rng.randint(1, 5),
        },
        "content_hash": uuid.uuid4().hex + uuid.uuid4().hex,
        "status": "analyzed",
        "created_at": created_at,
        "updated_at": created_at + timedelta(seconds=2),
        "analysis": {
            "summary": _sentence(rng) + " " + _sentence(rng),
            "language": rng.choice(_LANGUAGES),
            "sentiment": {"label": label, "score": score},
            "keywords": keywords,
            "entities": [{"text": "Acme Corp", "type": "ORG"}, {"text": "Berlin", "type": "LOC"}],
            "categories": [rng.choice(["finance", "operations", "support"])],
            "provider": "local",
            "model": "docflow-local-1",
            "prompt_version": "v1",
            "usage": {"prompt_tokens": 0, "completion_tokens": 0},
            "cost_usd": 0.0,
            "analyzed_at": created_at + timedelta(seconds=2),
        },
        "error": None,
        "origin": "api",
        "published": True,
    }


async def load_documents(uri: str, database: str, count: int) -> list[str]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri, tz_aware=True)
    rng = random.Random(42)
    start = datetime.now(UTC) - timedelta(days=30)
    ids: list[str] = []
    try:
        collection = client[database]["documents"]
        for offset in range(0, count, 1000):
            batch = [
                make_document(rng, start + timedelta(seconds=offset + i))
                for i in range(min(1000, count - offset))
            ]
            await collection.insert_many(batch, ordered=False)
            ids.extend(doc["_id"] for doc in batch)
    finally:
        await client.close()
    return ids


async def prefill_cache(bench: Bench, database: str, ids: list[str]) -> None:
    """Fill the cache with the service's own rendering code, in one pass over the collection.

    FerretDB's SQLite handler scans the whole table for every `_id` lookup, so warming 10,000
    ids through the service takes a quarter of an hour. The entries written here are the ones
    the service writes (same renderer, entry format, key and lifetime); `verify_hits` then
    reads a sample through the service and checks that they are served as they are.
    """
    from redis.asyncio import Redis

    from docflow.query.cache.entries import new_entry
    from docflow.query.cache.store import CacheKeys
    from docflow.query.documents.render import render_document
    from docflow.query.settings import QuerySettings

    settings = QuerySettings()
    keys = CacheKeys(f"bench:{bench.token}")
    keep_ms = int((settings.cache_document_ttl_s + settings.cache_stale_grace_s) * 1000)
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(bench.mongo_uri, tz_aware=True)
    redis = Redis.from_url(f"redis://127.0.0.1:{bench.redis.port}/0")
    try:
        async with redis.pipeline(transaction=False) as pipe:
            async for stored in mongo[database]["documents"].find({}):
                entry = new_entry(
                    render_document(stored), fresh_for_s=settings.cache_document_ttl_s
                )
                key = keys.document(stored["tenant_id"], stored["_id"], with_content=True)
                pipe.set(key, entry.pack(), px=keep_ms)
            await pipe.execute()
    finally:
        await redis.aclose()
        await mongo.close()


async def verify_hits(
    service: ServiceProcess, ids: list[str], *, key: str, sample: int = 200
) -> int:
    """Read a sample through the service; how many it counted as cache hits (/metrics, on
    the operations port)."""
    async with httpx.AsyncClient(timeout=30) as client:
        before = _cache_hits((await client.get(f"{service.ops_url}/metrics")).text)
        for document_id in random.sample(ids, min(sample, len(ids))):
            url = f"{service.url}/v1/documents/{document_id}"
            (await client.get(url, headers=authorization(key))).raise_for_status()
        return _cache_hits((await client.get(f"{service.ops_url}/metrics")).text) - before


def _cache_hits(metrics: str) -> int:
    match = re.search(r'^docflow_query_cache_total\{outcome="hit"\} ([\d.e+]+)$', metrics, re.M)
    return int(float(match.group(1))) if match else 0


@dataclass(frozen=True)
class WrkResult:
    name: str
    rps: float
    p50_ms: float
    p99_ms: float
    errors: str
    load: float  # 1-minute load average when the run started (the 2 cores are shared)
    raw: str


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _latency(output: str, percentile: str) -> float:
    match = re.search(rf"^\s+{percentile}%\s+([\d.]+)(us|ms|s)\s*$", output, re.MULTILINE)
    return float(match.group(1)) * _UNITS[match.group(2)] if match else float("nan")


def run_wrk(
    name: str, url: str, *, script: Path, ids_file: Path, key: str, args: argparse.Namespace
) -> WrkResult:
    command = [
        "wrk",
        f"-t{args.threads}",
        f"-c{args.connections}",
        f"-d{args.duration}s",
        "--latency",
        "--timeout",
        "10s",
        *wrk_options(key),
        "-s",
        str(script),
        url,
        "--",
        str(ids_file),
    ]
    load = os.getloadavg()[0]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    problems = [
        line.strip() for line in output.splitlines() if "Non-2xx" in line or "Socket errors" in line
    ]
    return WrkResult(
        name=name,
        rps=float(rps.group(1)) if rps else 0.0,
        p50_ms=_latency(output, "50"),
        p99_ms=_latency(output, "99"),
        errors="; ".join(problems) or "none",
        load=load,
        raw=output,
    )


def serve_bare(port: int, size: int) -> None:
    """The baseline: FastAPI, one route, a constant JSON body of `size` bytes, behind a bearer
    check (a dict lookup of the token)."""
    import uvicorn
    from fastapi import FastAPI
    from starlette.responses import Response

    prefix = b'{"success":true,"data":{"text":"'
    suffix = b'"},"error":null,"meta":{"request_id":"' + b"0" * 32 + b'"}}'
    body = prefix + b"x" * max(0, size - len(prefix) - len(suffix)) + suffix
    app = FastAPI()
    app.add_middleware(BearerCheck, tenants_by_token=baseline_tokens())

    @app.get("/v1/documents/{document_id}")
    async def bare(document_id: str) -> Response:
        return Response(body, media_type="application/json")

    uvicorn.run(app, host="127.0.0.1", port=port, log_config=None, access_log=False)


def own_ferretdb(workdir: Path) -> OwnServer:
    """A FerretDB of the benchmark's own on a free port: other tests that share the machine's
    instances neither slow it down nor see the benchmark's load."""
    return ferretdb_server(workdir, port=free_port()).start()


def own_redis(workdir: Path) -> OwnServer:
    return redis_server(workdir, port=free_port()).start()


class BareProcess:
    def __init__(self, *, port: int, size: int, key: str, log_path: Path) -> None:
        self.port, self.size, self.key, self.log_path = port, size, key, log_path
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> BareProcess:
        log = self.log_path.open("ab")
        command = [sys.executable, __file__, "--serve-bare", str(self.port), str(self.size)]
        env = {**os.environ, KEY_ENV: self.key}
        self.process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                httpx.get(f"{self.url}/v1/documents/x", headers=authorization(self.key), timeout=1)
                return self
            except httpx.HTTPError:
                time.sleep(0.2)
        raise RuntimeError("bare app did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=30)


def service_env(token: str, *, mongo_port: int, redis_port: int, **extra: str) -> dict[str, str]:
    return {
        "MONGODB_URI": f"mongodb://127.0.0.1:{mongo_port}",
        "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        "MONGODB_DATABASE": database_of(token),
        "REDIS_KEY_PREFIX": f"bench:{token}",
        "KAFKA_TOPIC_SUFFIX": f".bench{token}",
        "RATE_LIMIT_ENABLED": "true",
        "RATE_LIMIT_DEFAULT": RATE_LIMIT,
        "ACCESS_LOG": "true",
        "LOG_LEVEL": "INFO",
        # FerretDB's SQLite handler scans the table even for an _id lookup, so uncached reads
        # queue up under 64 connections: give them time rather than measure 503s.
        "MONGODB_TIMEOUT_MS": "10000",
        **extra,
    }


def print_results(results: list[WrkResult], size: int, args: argparse.Namespace) -> None:
    print(
        f"wrk -t{args.threads} -c{args.connections} -d{args.duration}s --latency, random ids "
        f"of {args.documents} documents, body {size} bytes"
    )
    print(f"{'case':<30}{'req/s':>8}{'p50 ms':>9}{'p99 ms':>9}{'load':>6}  errors")
    for result in results:
        print(
            f"{result.name:<30}{result.rps:>8.0f}{result.p50_ms:>9.2f}{result.p99_ms:>9.2f}"
            f"{result.load:>6.1f}  {result.errors}"
        )
    by_name = {result.name: result for result in results}
    cached, bare = by_name["cached GET by id"], by_name["bare FastAPI endpoint"]
    ratio = cached.rps / bare.rps if bare.rps else 0.0
    verdict = "met" if ratio >= 0.6 and cached.p99_ms < 25 else "NOT met"
    print(f"cached/bare ratio: {ratio:.2f} (target >= 0.60 with p99 < 25 ms: {verdict})")


def profile_cached(bench: Bench, ids: list[str], args: argparse.Namespace) -> None:
    profile_path = bench.workdir / "profile.txt"
    profiled = [sys.executable, str(PROFILED), "--output", str(profile_path), "query"]
    with bench.service("profiled", command=profiled) as service:
        result = bench.measure("cached GET by id (profiled)", service.url, args)
    print(f"\nprofiled cached run (slower under the profiler): {result.rps:.0f} req/s")
    lines = profile_path.read_text().splitlines()
    print("\n".join(lines[: args.profile_lines]))


@dataclass
class Bench:
    token: str
    workdir: Path
    mongo: OwnServer
    redis: OwnServer
    key: str  # an API key of tenant `default` in `database`

    @property
    def mongo_uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.mongo.port}"

    @property
    def database(self) -> str:
        return database_of(self.token)

    @contextmanager
    def service(
        self, name: str, *, command: list[str] | None = None, **extra: str
    ) -> Iterator[ServiceProcess]:
        """A query service, running until the block ends; stopped also if it never got ready.
        It builds its indexes over the preloaded documents at startup, which takes minutes on
        a busy machine."""
        env = service_env(
            self.token, mongo_port=self.mongo.port, redis_port=self.redis.port, **extra
        )
        log_path = self.workdir / f"{name}.log"
        service = ServiceProcess(
            "query", env=env, port=free_port(), log_path=log_path, command=command
        )
        try:
            yield service.start(ready_timeout_s=READY_TIMEOUT_S)
        finally:
            service.stop()

    def measure(self, name: str, url: str, args: argparse.Namespace) -> WrkResult:
        return run_wrk(
            name,
            url,
            script=self.workdir / "ids.lua",
            ids_file=self.workdir / "ids.txt",
            key=self.key,
            args=args,
        )


def database_of(token: str) -> str:
    return f"bench_{token}"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--documents", type=int, default=10_000)
    parser.add_argument("--duration", type=int, default=15)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--profile", action="store_true", help="also profile the cached path")
    parser.add_argument("--profile-lines", type=int, default=80)
    parser.add_argument("--serve-bare", nargs=2, type=int, metavar=("PORT", "SIZE"))
    return parser.parse_args()


def run_benchmark(bench: Bench, args: argparse.Namespace) -> None:
    database = bench.database
    print(f"loading {args.documents} analyzed documents into {database} ...", flush=True)
    started = time.perf_counter()
    ids = asyncio.run(load_documents(bench.mongo_uri, database, args.documents))
    print(f"loaded in {time.perf_counter() - started:.1f} s; logs in {bench.workdir}", flush=True)
    (bench.workdir / "ids.txt").write_text("\n".join(ids) + "\n")
    (bench.workdir / "ids.lua").write_text(WRK_IDS_SCRIPT)

    results: list[WrkResult] = []
    with bench.service("cached") as cached:
        started = time.perf_counter()
        asyncio.run(prefill_cache(bench, database, ids))
        hits = asyncio.run(verify_hits(cached, ids, key=bench.key))
        print(
            f"cache filled in {time.perf_counter() - started:.0f} s; "
            f"{hits}/200 sampled ids served from it",
            flush=True,
        )
        first = httpx.get(f"{cached.url}/v1/documents/{ids[0]}", headers=authorization(bench.key))
        size = len(first.content)
        results.append(bench.measure("cached GET by id", cached.url, args))
    with bench.service("uncached", CACHE_DOCUMENT_TTL_S="0") as uncached:
        results.append(bench.measure("uncached GET by id (MongoDB)", uncached.url, args))
    bare_log = bench.workdir / "bare.log"
    bare = BareProcess(port=free_port(), size=size, key=bench.key, log_path=bare_log).start()
    try:
        results.append(bench.measure("bare FastAPI endpoint", bare.url, args))
    finally:
        bare.stop()
    print_results(results, size, args)
    if args.profile:
        profile_cached(bench, ids, args)


def main() -> None:
    args = parse_args()
    if args.serve_bare:
        serve_bare(*args.serve_bare)
        return
    workdir = Path(tempfile.mkdtemp(prefix="bench_query_"))
    mongo = own_ferretdb(workdir)
    try:
        redis = own_redis(workdir)
        try:
            token = uuid.uuid4().hex[:10]
            uri = f"mongodb://127.0.0.1:{mongo.port}"
            key = new_key(mongodb_uri=uri, database=database_of(token))
            run_benchmark(Bench(token, workdir, mongo, redis, key), args)
        finally:
            redis.stop()
    finally:
        mongo.stop()
        shutil.rmtree(workdir / "ferretdb", ignore_errors=True)


if __name__ == "__main__":
    main()

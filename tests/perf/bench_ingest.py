"""Benchmark of JSON ingestion against a bare FastAPI endpoint, measured in one run.

    uv run python tests/perf/bench_ingest.py [--duration 15] [--connections 50] [--profile]

What it does, on the real Kafka, FerretDB and Redis (deploy/local/infra.sh up), in a private
slice of them (its own database, topic suffix and Redis key prefix):
1. starts the real ingest service as a subprocess (the production entry point, one uvicorn
   worker) with rate limiting ON, counted in Redis on every request, but with the limit raised
   to 100,000,000/minute for the benchmark client so it is never refused, with an API key of
   its own (every /v1 request needs one; the bare app gets the same header), and with its JSON
   access log ON (written to a file);
2. starts a bare FastAPI app (one uvicorn worker, no middleware) whose POST /v1/documents
   parses the same IncomingDocument JSON and answers 202 with a constant envelope;
3. drives each with `wrk` and a Lua script that posts a distinct document on every request
   (identical content would only measure the duplicate path), 50 connections by default;
4. prints accepted documents/s (responses with status 202) for both, latency, and the ratio
   ingest/bare (target >= 0.5); then checks that MongoDB holds as many documents as were
   accepted and that documents.ingested got one event for each.
With `--profile`, the ingest service runs under pyinstrument (tests/perf/profiled.py) and the
top of the profile is printed after the run; `BENCH_INGEST_ENTRY=script.py` starts the service
through a script of your own instead (a cProfile or timing wrapper that ends by calling
`docflow.ingest.main.run`).

`--serve-bare PORT` is the bare app itself (used by step 2).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import resource
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

import psutil
from aiokafka import AIOKafkaConsumer
from pymongo import AsyncMongoClient

from docflow.common.events import IncomingDocument, Topic
from docflow.testing import create_api_key, ferretdb_server, free_port, new_isolation

RATE_LIMIT = "100000000/minute"  # counted on every request, never reached by the benchmark
SHARED_MONGODB_URI = "mongodb://127.0.0.1:27017"
KAFKA = "127.0.0.1:9092"
REPO = Path(__file__).resolve().parents[2]
PROFILED = Path(__file__).with_name("profiled.py")  # a service's run() under pyinstrument

# Each wrk thread numbers its requests; the run id and thread id make every body unique.
_WRK_SCRIPT = r"""
local threads = {}
local counter = 0
accepted = 0  -- global: done() reads it per thread with thread:get
local run_id = "run"
local filler = string.rep("Revenue grew in every region while costs stayed flat. ", 8)

setup = function(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

init = function(args)
  run_id = args[1] or run_id
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  if args[2] then wrk.headers["Authorization"] = "Bearer " .. args[2] end
end

request = function()
  counter = counter + 1
  local body = string.format(
    '{"title":"Bench %s %d-%d","content":"Document %d of thread %d in run %s. %s",' ..
    '"source":"bench","external_id":"b-%d-%d","metadata":{"run":"%s","n":%d}}',
    run_id, tid, counter, counter, tid, run_id, filler, tid, counter, run_id, counter)
  return wrk.format(nil, nil, nil, body)
end

response = function(status, headers, body)
  if status == 202 then accepted = accepted + 1 end
end

done = function(summary, latency, requests)
  local total = 0
  for _, thread in ipairs(threads) do total = total + thread:get("accepted") end
  io.write(string.format("ACCEPTED %d\n", total))
end
"""


@dataclass(frozen=True)
class Result:
    name: str
    accepted: int
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: str
    load: float  # 1-minute load average when the run started (the 2 cores are shared)

    @property
    def accepted_per_s(self) -> float:
        return self.accepted / self.seconds if self.seconds else 0.0


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _latency(output: str, percentile: str) -> float:
    match = re.search(rf"^\s+{percentile}%\s+([\d.]+)(us|ms|s)\s*$", output, re.MULTILINE)
    return float(match.group(1)) * _UNITS[match.group(2)] if match else float("nan")


def run_wrk(name: str, url: str, *, script: Path, args: argparse.Namespace, api_key: str) -> Result:
    command = [
        "wrk",
        f"-t{args.threads}",
        f"-c{args.connections}",
        f"-d{args.duration}s",
        "--latency",
        "--timeout",
        "10s",
        "-s",
        str(script),
        f"{url}/v1/documents",
        "--",
        f"{name}-{uuid.uuid4().hex[:8]}",
        api_key,  # sent to both apps, so that both read the same requests
    ]
    load = os.getloadavg()[0]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    if args.verbose:
        print(output)
    accepted = re.search(r"^ACCEPTED (\d+)$", output, re.MULTILINE)
    requests = re.search(r"(\d+) requests in ([\d.]+)(s|m)", output)
    seconds = float(requests.group(2)) * (60 if requests.group(3) == "m" else 1) if requests else 0
    problems = [
        line.strip() for line in output.splitlines() if "Non-2xx" in line or "Socket errors" in line
    ]
    return Result(
        name=name,
        accepted=int(accepted.group(1)) if accepted else 0,
        requests=int(requests.group(1)) if requests else 0,
        seconds=seconds,
        p50_ms=_latency(output, "50"),
        p99_ms=_latency(output, "99"),
        errors="; ".join(problems) or "none",
        load=load,
    )


def serve_bare(port: int) -> None:
    """The baseline: FastAPI parsing the same JSON into the same model, a constant 202."""
    import uvicorn
    from fastapi import FastAPI
    from starlette.responses import Response

    body = (
        b'{"success":true,"data":{"id":"' + b"0" * 32 + b'","status":"queued","duplicate":false},'
        b'"error":null,"meta":{"request_id":"' + b"0" * 32 + b'"}}'
    )
    app = FastAPI()

    # A module-level model: with postponed annotations FastAPI resolves names in globals.
    @app.post("/v1/documents", status_code=202)
    async def bare(document: IncomingDocument) -> Response:
        return Response(body, status_code=202, media_type="application/json")

    uvicorn.run(app, host="127.0.0.1", port=port, log_config=None, access_log=False)


class BareProcess:
    def __init__(self, *, port: int, log_path: Path) -> None:
        self.port, self.log_path = port, log_path
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> BareProcess:
        command = [sys.executable, __file__, "--serve-bare", str(self.port)]
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        if not wait_http(f"{self.url}/docs", timeout_s=30):
            raise RuntimeError(f"bare app did not start; see {self.log_path}")
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=30)


async def stored_and_published(uri: str, database: str, topic: str) -> tuple[int, int]:
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(uri)
    try:
        stored = await client[database]["documents"].count_documents({})
        await client.drop_database(database)
    finally:
        await client.close()
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=KAFKA, group_id=None)
    await consumer.start()
    try:
        await consumer.getmany(timeout_ms=1000)  # waits for the partition assignment
        ends = await consumer.end_offsets(list(consumer.assignment()))
    finally:
        await consumer.stop()
    return stored, sum(ends.values())


def print_results(ingest: Result, bare: Result, args: argparse.Namespace) -> None:
    store = "the shared FerretDB" if args.shared_store else "an own FerretDB (sqlite)"
    print(
        f"\nwrk -t{args.threads} -c{args.connections} -d{args.duration}s, a distinct ~560-byte "
        "JSON document per request; rate limiting ON (limit raised for the benchmark), "
        f"access log ON; {store}, the shared Kafka and Redis"
        + (f"; settings changed: {' '.join(args.set)}" if args.set else "")
    )
    print(
        f"{'endpoint':<34}{'accepted/s':>12}{'requests':>10}{'p50 ms':>9}{'p99 ms':>9}"
        f"{'load':>7}  errors"
    )
    for result in (ingest, bare):
        print(
            f"{result.name:<34}{result.accepted_per_s:>12.1f}{result.requests:>10}"
            f"{result.p50_ms:>9.2f}{result.p99_ms:>9.2f}{result.load:>7.2f}  {result.errors}"
        )
    ratio = ingest.accepted_per_s / bare.accepted_per_s if bare.accepted_per_s else 0.0
    verdict = "meets" if ratio >= 0.5 else "BELOW"
    print(f"ratio ingest/bare: {ratio:.2f} ({verdict} the 0.5 target)")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=int, default=15, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--profile", action="store_true", help="run ingest under pyinstrument")
    parser.add_argument(
        "--shared-store", action="store_true", help="use the shared FerretDB, not an own one"
    )
    parser.add_argument("--verbose", action="store_true", help="print wrk's full output")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a setting of the ingest service for this run, e.g. ACCESS_LOG=false (repeatable)",
    )
    parser.add_argument("--serve-bare", type=int, metavar="PORT", help=argparse.SUPPRESS)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if args.serve_bare:
        serve_bare(args.serve_bare)
        return
    workdir = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    script = workdir / "post.lua"
    script.write_text(_WRK_SCRIPT)
    isolation = new_isolation()
    env = {
        **isolation.env(),
        "RATE_LIMIT_DEFAULT": RATE_LIMIT,
        "RATE_LIMIT_ENABLED": "true",
        "ACCESS_LOG": "true",
        "LOG_LEVEL": "INFO",
        **dict(item.split("=", 1) for item in args.set),
    }
    # An own FerretDB (same binary and handler as the shared one): the tests other people run
    # on the shared instance neither slow the benchmark down nor see its load.
    store = None if args.shared_store else ferretdb_server(workdir, port=free_port()).start()
    mongodb_uri = f"mongodb://127.0.0.1:{store.port}" if store else SHARED_MONGODB_URI
    env["MONGODB_URI"] = mongodb_uri
    # Every /v1 request needs a key: the benchmark's own, in its own database.
    api_key = asyncio.run(
        create_api_key(mongodb_uri=mongodb_uri, database=isolation.database, name="bench")
    )
    profile_path = workdir / "profile.txt" if args.profile else None
    service = IngestProcess(env=env, port=free_port(), workdir=workdir, profile=profile_path)
    bare = BareProcess(port=free_port(), log_path=workdir / "bare.log")
    print(f"logs{' and profile' if args.profile else ''} in {workdir}")
    try:
        service.start()
        bare.start()
        # A short warm-up of each (connections, pools, imports), not measured.
        warm = argparse.Namespace(**{**vars(args), "duration": 2, "verbose": False})
        run_wrk("warm-up", service.url, script=script, args=warm, api_key=api_key)
        run_wrk("warm-up", bare.url, script=script, args=warm, api_key=api_key)
        ingest_meter = CpuMeter(service=service.process, store=store.process if store else None)
        ingest_result = run_wrk(
            "ingest POST /v1/documents", service.url, script=script, args=args, api_key=api_key
        )
        ingest_cpu = ingest_meter.used()
        bare_meter = CpuMeter(service=bare.process, store=None)
        bare_result = run_wrk(
            "bare FastAPI (same JSON, 202)", bare.url, script=script, args=args, api_key=api_key
        )
        bare_cpu = bare_meter.used()
    finally:
        bare.stop()
        service.stop()
    print_results(ingest_result, bare_result, args)
    print("CPU ms per accepted document (per request for the bare app), by process:")
    print(f"  ingest run: {ingest_cpu.describe(ingest_result.accepted, 'ingest service')}")
    print(f"  bare run:   {bare_cpu.describe(bare_result.accepted, 'bare app')}")
    stored, events = asyncio.run(
        stored_and_published(mongodb_uri, isolation.database, isolation.topic(Topic.INGESTED))
    )
    if store is not None:
        store.stop()
    logged = service.accepted_in_log()
    print(
        f"check: {logged} answered 202 (warm-up included), {stored} documents stored, "
        f"{events} DocumentIngested events"
    )
    if profile_path is not None and profile_path.exists():
        print("\n".join(profile_path.read_text().splitlines()[:150]))


class IngestProcess:
    """The real service, started like `make run` starts it (optionally under pyinstrument)."""

    def __init__(
        self, *, env: dict[str, str], port: int, workdir: Path, profile: Path | None
    ) -> None:
        self.port = port
        # A free operations port: 9101 may belong to a running `make run`.
        self.env = {**os.environ, **env, "HTTP_PORT": str(port), "OPS_PORT": str(free_port())}
        self.log_path = workdir / "ingest.log"
        entry = "from docflow.ingest.main import run; run()"
        self.command = [sys.executable, "-c", entry]
        if os.environ.get("BENCH_INGEST_ENTRY"):  # e.g. a cProfile wrapper script
            self.command = [sys.executable, os.environ["BENCH_INGEST_ENTRY"]]
        if profile is not None:
            self.command = [sys.executable, str(PROFILED), "--output", str(profile), "ingest"]
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            self.command, env=self.env, stdout=log, stderr=subprocess.STDOUT
        )
        if not wait_http(f"{self.url}/health", timeout_s=60):
            raise RuntimeError(f"ingest did not start; see {self.log_path}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # graceful: pyinstrument writes its report
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()

    def accepted_in_log(self) -> int:
        text = self.log_path.read_text(errors="replace")
        return text.count('"message":"POST /v1/documents 202"')


def _cpu_of(pid: int | None, *, children: bool = False) -> float:
    """User + system CPU seconds of a process (and its children), 0 if it is not there."""
    if pid is None:
        return 0.0
    try:
        handle = psutil.Process(pid)
        processes = [handle, *(handle.children(recursive=True) if children else [])]
        total = 0.0
        for process in processes:
            with contextlib.suppress(psutil.Error):
                times = process.cpu_times()
                total += times.user + times.system
        return total
    except psutil.Error:
        return 0.0


def _infra_pid(name: str) -> int | None:
    """The pid of a shared service started by deploy/local/infra.sh (Kafka, Redis)."""
    path = REPO / ".cache" / "run" / f"{name}.pid"
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


class CpuMeter:
    """CPU used during one wrk run: by the service under test, its FerretDB, the shared Kafka
    and Redis, wrk itself, and the whole machine (busy share of all cores). The 2 cores are
    shared by all of them, so a run that keeps the machine busy is bounded by the machine."""

    def __init__(
        self, *, service: subprocess.Popen[bytes] | None, store: subprocess.Popen[bytes] | None
    ) -> None:
        self.pids: dict[str, int | None] = {
            "service": service.pid if service else None,
            "FerretDB": store.pid if store else None,
            "Kafka": _infra_pid("kafka"),
            "Redis": _infra_pid("redis"),
        }
        self.started = self._snapshot()
        self.ended: dict[str, float] = {}

    def _snapshot(self) -> dict[str, float]:
        snapshot = {
            name: _cpu_of(pid, children=name == "service") for name, pid in self.pids.items()
        }
        wrk = resource.getrusage(resource.RUSAGE_CHILDREN)  # wrk is the only child that ends
        snapshot["wrk"] = wrk.ru_utime + wrk.ru_stime
        machine = psutil.cpu_times()
        snapshot["machine busy"] = sum(machine) - machine.idle - getattr(machine, "iowait", 0.0)
        snapshot["wall"] = time.monotonic()
        return snapshot

    def used(self) -> CpuMeter:
        self.ended = self._snapshot()
        return self

    def describe(self, accepted: int, service_name: str) -> str:
        per_doc = 1000 / max(accepted, 1)
        used = {name: self.ended[name] - self.started[name] for name in self.started}
        measured = [name for name, pid in self.pids.items() if pid is not None] + ["wrk"]
        parts = [
            f"{service_name if name == 'service' else name} {used[name] * per_doc:.2f}"
            for name in measured
        ]
        busy = used["machine busy"] / max(used["wall"], 1e-9) / (os.cpu_count() or 1)
        return ", ".join(parts) + f"; machine {busy:.0%} busy ({os.cpu_count()} cores)"


def wait_http(url: str, *, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return True
        except OSError:
            time.sleep(0.2)
    return False


if __name__ == "__main__":
    main()

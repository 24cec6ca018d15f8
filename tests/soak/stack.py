"""The soak's own stack: ingest, analysis (LLM_PROVIDER=local) and query as real processes on a
private slice of the shared Kafka, FerretDB and Redis, with limits raised out of the way."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
from pymongo import MongoClient

from docflow.testing import Isolation, ServiceProcess, create_api_key, free_port, new_isolation

SERVICES = ("ingest", "analysis", "query")
MEMTRACE = Path(__file__).with_name("memtrace.py")
MONGODB_URI = os.environ.get("MONGODB_URI", "mongodb://127.0.0.1:27017")
UNLIMITED = "100000000/minute"  # counted on every request, never reached: the limiter stays on

# The soak measures the services, not their limiter or the tenant quotas.
SOAK_ENV = {
    "LLM_PROVIDER": "local",
    "CONSUMER_BATCH_TIMEOUT_MS": "100",
    "CONSUMER_LAG_INTERVAL_S": "5",
    "RATE_LIMIT_DEFAULT": UNLIMITED,
    "RATE_LIMIT_UPLOAD": UNLIMITED,
    "UPLOADS_PER_TENANT": "0",
    "TENANT_DOCUMENTS_PER_DAY": "0",
    "TENANT_DAILY_TOKEN_BUDGET": "0",
}


@dataclass
class SoakStack:
    isolation: Isolation
    processes: dict[str, ServiceProcess]
    api_key: str

    def url(self, service: str) -> str:
        return self.processes[service].url

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}

    def trim_memory(self) -> None:
        """Under memtrace.py: have each service record its RSS before and after malloc_trim."""
        for process in self.processes.values():
            if process.process is not None and process.process.poll() is None:
                process.process.send_signal(signal.SIGUSR1)
        time.sleep(2)

    def stop(self) -> None:
        for process in self.processes.values():
            process.stop()
        client: MongoClient[dict[str, object]] = MongoClient(MONGODB_URI)
        with client:
            client.drop_database(self.isolation.database)


def start_stack(log_dir: Path, *, trace_memory: bool = False) -> SoakStack:
    """`trace_memory`: each service runs under memtrace.py, its records in log_dir/memtrace."""
    isolation = new_isolation()
    env = {**isolation.env(), **SOAK_ENV}
    log_dir.mkdir(parents=True, exist_ok=True)

    def command(name: str) -> list[str] | None:
        if not trace_memory:
            return None
        return [sys.executable, str(MEMTRACE), "--output", str(log_dir / "memtrace"), name]

    processes = {
        name: ServiceProcess(
            name,
            env=env,
            port=free_port(),
            log_path=log_dir / f"{name}.log",
            command=command(name),
        )
        for name in SERVICES
    }
    started: list[ServiceProcess] = []
    try:
        for process in processes.values():
            started.append(process.start(ready_timeout_s=120))
        key = asyncio.run(create_api_key(mongodb_uri=MONGODB_URI, database=isolation.database))
    except Exception:
        for process in started:
            process.stop()
        raise
    return SoakStack(isolation, processes, key)


def seed(stack: SoakStack, *, documents: int, timeout_s: float = 300.0) -> None:
    """Store `documents` documents and wait until query lists them all, so reads find data."""
    run = uuid.uuid4().hex[:8]
    with httpx.Client(headers=stack.headers, timeout=60) as client:
        for start in range(0, documents, 50):
            batch = [
                {"content": seed_text(run, index), "title": f"Seed {index}", "source": "soak-seed"}
                for index in range(start, min(start + 50, documents))
            ]
            response = client.post(
                f"{stack.url('ingest')}/v1/documents/batch", json={"documents": batch}
            )
            response.raise_for_status()
        deadline = time.monotonic() + timeout_s
        while True:
            stats = client.get(f"{stack.url('query')}/v1/stats")
            if stats.status_code == 200 and stats.json()["data"]["total"] >= documents:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"query did not list the {documents} seeded documents in time")
            time.sleep(1)


_SENTENCES = (
    "Revenue grew in every region and the team celebrated a wonderful quarter.",
    "The outage frustrated customers and support queues were terrible all week.",
    "Der Vorstand hat das Budget für das neue Büro in Berlin genehmigt.",
    "Le comité a approuvé le nouveau budget pour le bureau de Lyon.",
    "Costs stayed flat while the hiring plan moved to the next quarter.",
)


def seed_text(run: str, index: int) -> str:
    """Distinct content (identical content would only measure the duplicate path), in a few
    languages and moods so that list filters find something."""
    sentence = _SENTENCES[index % len(_SENTENCES)]
    return f"{sentence} {sentence} Reference {run}-{index}."

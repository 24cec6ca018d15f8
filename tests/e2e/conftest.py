"""The three services as real processes, as `make run` starts them, on a private slice of the
real Kafka, FerretDB and Redis."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from docflow.testing import (
    Isolation,
    ServiceProcess,
    bearer,
    create_api_key,
    free_port,
    new_isolation,
)

FAKE_OPENAI = Path(__file__).resolve().parents[1] / "fakes" / "openai_server.py"


@dataclass
class Stack:
    isolation: Isolation
    ingest: ServiceProcess
    analysis: ServiceProcess
    query: ServiceProcess
    api_key: str  # of tenant `default`, in the stack's database

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.api_key)


def _start_stack(tmp: Path, env: dict[str, str]) -> Stack:
    isolation = new_isolation()
    common_env = {
        **isolation.env(),
        "LOG_LEVEL": "INFO",
        "CONSUMER_BATCH_TIMEOUT_MS": "100",
        **env,
    }
    processes = {
        name: ServiceProcess(name, env=common_env, port=free_port(), log_path=tmp / f"{name}.log")
        for name in ("ingest", "analysis", "query")
    }
    started: list[ServiceProcess] = []
    try:
        for process in processes.values():
            started.append(process.start(ready_timeout_s=90))
    except Exception:
        for process in started:
            process.stop()
        raise
    api_key = asyncio.run(
        create_api_key(
            mongodb_uri=os.environ.get("MONGODB_URI", "mongodb://127.0.0.1:27017"),
            database=isolation.database,
        )
    )
    return Stack(isolation, processes["ingest"], processes["analysis"], processes["query"], api_key)


def _stop_stack(stack: Stack) -> None:
    for process in (stack.ingest, stack.analysis, stack.query):
        process.stop()


@pytest.fixture(scope="module")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """ingest, analysis (LLM_PROVIDER=local) and query."""
    stack = _start_stack(tmp_path_factory.mktemp("local"), {"LLM_PROVIDER": "local"})
    yield stack
    _stop_stack(stack)


# Jaeger as deploy/local/infra.sh starts it (once install.sh has built it).
JAEGER_QUERY = "http://127.0.0.1:16686"
JAEGER_OTLP = "http://127.0.0.1:4318"


@pytest.fixture(scope="module")
def traced_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The local stack exporting its spans to the Jaeger that infra.sh runs."""
    import urllib.request

    try:
        with urllib.request.urlopen(f"{JAEGER_QUERY}/api/services", timeout=2):
            pass
    except OSError:
        pytest.skip(
            "no Jaeger on 127.0.0.1:16686: deploy/local/install.sh builds it and "
            "deploy/local/infra.sh up starts it (make test does both)"
        )
    env = {
        "LLM_PROVIDER": "local",
        "OTEL_EXPORTER_OTLP_ENDPOINT": JAEGER_OTLP,
        "OTEL_BSP_SCHEDULE_DELAY": "200",  # export within a fraction of a second
    }
    stack = _start_stack(tmp_path_factory.mktemp("traced"), env)
    yield stack
    _stop_stack(stack)


@pytest.fixture(scope="module")
def fake_openai(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The fake OpenAI-compatible server of the contract, as its own process."""
    port = free_port()
    log = (tmp_path_factory.mktemp("fake") / "fake.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, str(FAKE_OPENAI), "--port", str(port), "--latency-ms", "20"],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=os.environ.copy(),
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    import urllib.request

    while True:
        try:
            request = urllib.request.Request(
                f"{url}/v1/models", headers={"Authorization": "Bearer test"}
            )
            with urllib.request.urlopen(request, timeout=1):
                break
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                raise RuntimeError("fake OpenAI server did not start") from None
            time.sleep(0.2)
    yield f"{url}/v1"
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture(scope="module")
def openai_stack(tmp_path_factory: pytest.TempPathFactory, fake_openai: str) -> Iterator[Stack]:
    """The same stack with analysis calling an OpenAI-compatible API (the fake server)."""
    stack = _start_stack(
        tmp_path_factory.mktemp("openai"),
        {
            "LLM_PROVIDER": "openai",
            "OPENAI_BASE_URL": fake_openai,
            "OPENAI_API_KEY": "test-key-for-the-fake-server",
        },
    )
    yield stack
    _stop_stack(stack)

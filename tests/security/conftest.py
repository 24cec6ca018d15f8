"""The services as real processes, so a request that monopolised one would show on its `/health`.

An in-process app would share the test's event loop, and a stalled loop would stall the
test's own clock with it; a process of its own is what makes a latency budget mean something.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from docflow.testing import (
    Isolation,
    ServiceProcess,
    bearer,
    create_api_key,
    free_port,
    new_isolation,
)

MIB = 1024 * 1024
# Low enough that a parse grown past it fails in seconds; the default is 1 GiB.
WORKER_MEMORY_BYTES = 320 * MIB


MONGODB_URI = "mongodb://127.0.0.1:27017"
# One slice for the package: ingest and query share a database, as they do in a deployment.
ISOLATION: Isolation = new_isolation()


def service(name: str, tmp: Path, env: dict[str, str]) -> ServiceProcess:
    isolation = ISOLATION
    full_env = {**isolation.env(), "RATE_LIMIT_ENABLED": "false", **env}
    return ServiceProcess(name, env=full_env, port=free_port(), log_path=tmp / f"{name}.log")


@pytest.fixture(scope="module")
def ingest_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    """ingest on its default limits, except a smaller address space for extraction workers."""
    env = {"EXTRACTION_WORKERS": "1", "EXTRACTION_MEMORY_BYTES": str(WORKER_MEMORY_BYTES)}
    with service("ingest", tmp_path_factory.mktemp("ingest"), env) as process:
        yield process


@pytest.fixture(scope="module")
def query_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    with service("query", tmp_path_factory.mktemp("query"), {}) as process:
        yield process


async def api_key(tenant: str = "default") -> str:
    """A new key of `tenant` in the services' database."""
    return await create_api_key(mongodb_uri=MONGODB_URI, database=ISOLATION.database, tenant=tenant)


@pytest.fixture
async def api_headers() -> dict[str, str]:
    """What every /v1 request of these tests sends: a key of tenant `default`."""
    return bearer(await api_key())


@pytest.fixture
async def client(api_headers: dict[str, str]) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(headers=api_headers, timeout=60) as http:
        yield http

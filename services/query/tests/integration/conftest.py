"""Fixtures of the query integration tests, on the real Kafka, FerretDB and Redis.

Tests that stop a dependency get their own redis-server or FerretDB on a free port, never the
shared instances other tests rely on.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from docflow.common.testing import Isolation, free_port
from services.query.tests.integration.support import (
    FERRETDB_BIN,
    Database,
    PrivateServer,
    QueryApp,
    running_query,
)


@pytest.fixture
async def query(isolation: Isolation, test_db: Database) -> AsyncIterator[QueryApp]:
    async with running_query() as running:
        yield running


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateServer]:
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is missing: run deploy/local/install.sh")
    port = free_port()
    command = ["redis-server", "--port", str(port), "--bind", "127.0.0.1"]
    command += ["--save", "", "--appendonly", "no", "--daemonize", "no"]
    server = PrivateServer(command, port=port, log_path=tmp_path / "redis.log")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def private_ferretdb(tmp_path: Path) -> Iterator[PrivateServer]:
    if not FERRETDB_BIN.exists():
        pytest.fail(f"{FERRETDB_BIN} is missing: run deploy/local/install.sh")
    data = tmp_path / "ferretdb"
    (data / "state").mkdir(parents=True)
    port = free_port()
    command = [
        str(FERRETDB_BIN),
        "--handler=sqlite",
        f"--sqlite-url=file:{data}/",
        f"--state-dir={data / 'state'}",
        f"--listen-addr=127.0.0.1:{port}",
        "--debug-addr=-",
        "--telemetry=disable",
        "--log-level=error",
    ]
    server = PrivateServer(command, port=port, log_path=tmp_path / "ferretdb.log")
    server.start()
    yield server
    server.stop()

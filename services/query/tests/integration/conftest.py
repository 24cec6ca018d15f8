"""Fixtures of the query integration tests, on the real Kafka, FerretDB and Redis.

Tests that stop a dependency get their own redis-server or FerretDB on a free port, never the
shared instances other tests rely on.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from docflow.testing import (
    FERRETDB_BIN,
    Isolation,
    OwnServer,
    ferretdb_server,
    free_port,
    redis_server,
)
from services.query.tests.integration.support import Database, QueryApp, running_query


@pytest.fixture
async def query(isolation: Isolation, test_db: Database) -> AsyncIterator[QueryApp]:
    async with running_query() as running:
        yield running


REDIS_PASSWORD = "test-password"  # of `password_redis`


def _own_redis(workdir: Path, *, password: str | None = None) -> OwnServer:
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is missing: run deploy/local/install.sh")
    return redis_server(workdir, port=free_port(), password=password).start()


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[OwnServer]:
    server = _own_redis(tmp_path)
    yield server
    server.stop()


@pytest.fixture
def password_redis(tmp_path: Path) -> Iterator[OwnServer]:
    """A private redis-server whose default user needs `REDIS_PASSWORD`."""
    server = _own_redis(tmp_path, password=REDIS_PASSWORD)
    yield server
    server.stop()


@pytest.fixture
def private_ferretdb(tmp_path: Path) -> Iterator[OwnServer]:
    if not FERRETDB_BIN.exists():
        pytest.fail(f"{FERRETDB_BIN} is missing: run deploy/local/install.sh")
    server = ferretdb_server(tmp_path, port=free_port()).start()
    yield server
    server.stop()

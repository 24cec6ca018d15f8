"""A document store outage: REST answers 503, Kafka messages wait (never dead-lettered).

The test runs its own FerretDB on a free port (the shared one is never stopped), started only
after the service has met the outage.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from pydantic import SecretStr
from pymongo import AsyncMongoClient

from docflow.common.events import Topic
from docflow.common.ops import operations_app
from docflow.ingest.main import create_app
from docflow.ingest.settings import IngestSettings
from docflow.testing import (
    FERRETDB_BIN,
    Isolation,
    collect_messages,
    ferretdb_server,
    free_port,
    produce_raw,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def settings_for(port: int) -> IngestSettings:
    return IngestSettings(
        mongodb_uri=SecretStr(f"mongodb://127.0.0.1:{port}"),
        mongodb_timeout_ms=300,
        incoming_retry_base_s=0.2,
        incoming_retry_max_s=1.0,
        incoming_batch_timeout_ms=100,
    )


@asynccontextmanager
async def running(settings: IngestSettings) -> AsyncIterator[FastAPI]:
    app = create_app(settings)
    async with LifespanManager(app, startup_timeout=60, shutdown_timeout=60):
        yield app


@contextmanager
def own_ferretdb(port: int, workdir: Path) -> Iterator[None]:
    if not FERRETDB_BIN.exists():
        pytest.skip("FerretDB is not installed (deploy/local/install.sh)")
    server = ferretdb_server(workdir, port=port).start()
    try:
        yield
    finally:
        server.stop()
        shutil.rmtree(workdir / "ferretdb", ignore_errors=True)


async def test_posting_while_the_store_is_down_is_a_503(isolation: Isolation, code_of: Any) -> None:
    async with running(settings_for(free_port())) as app:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            # The key cannot be checked either: 503 from authentication, before any write.
            response = await client.post(
                "/v1/documents",
                json={"content": "Nowhere to go."},
                headers={"Authorization": f"Bearer dfk_{'0' * 16}_{'a' * 43}"},
            )
            assert response.status_code == 503
            assert code_of(response) == "service_unavailable"
        ops_transport = httpx.ASGITransport(app=operations_app(app))
        async with httpx.AsyncClient(transport=ops_transport, base_url="http://ops") as ops:
            readiness = await ops.get("/health/ready")
            assert readiness.status_code == 503
    assert await collect_messages(isolation.topic(Topic.INGESTED), count=1, timeout_s=2) == []


async def test_kafka_messages_wait_out_a_store_outage_instead_of_dead_lettering(
    isolation: Isolation, tmp_path: Path
) -> None:
    port = free_port()
    messages = [orjson.dumps({"content": f"Patient document {i}."}) for i in range(3)]
    async with running(settings_for(port)):
        await produce_raw(isolation.topic(Topic.INCOMING), messages)
        # The consumer meets the outage and retries with backoff meanwhile.
        await asyncio.sleep(4)
        assert await collect_messages(isolation.topic(Topic.DLQ), count=1, timeout_s=1) == []
        assert await collect_messages(isolation.topic(Topic.INGESTED), count=1, timeout_s=1) == []

        with own_ferretdb(port, tmp_path):
            events = await collect_messages(isolation.topic(Topic.INGESTED), count=3, timeout_s=60)
            assert len(events) == 3
            client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
                f"mongodb://127.0.0.1:{port}", serverSelectionTimeoutMS=5000
            )
            try:
                stored = client[isolation.database]["documents"]
                started = time.monotonic()
                pending = client[isolation.database]["ingest_outbox"]
                while await stored.count_documents({}) < 3 or await pending.count_documents({}) > 0:
                    assert time.monotonic() - started < 20
                    await asyncio.sleep(0.25)
            finally:
                await client.close()
    assert await collect_messages(isolation.topic(Topic.DLQ), count=1, timeout_s=1) == []

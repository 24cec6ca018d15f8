"""The ingest app on the real Kafka, FerretDB and Redis, in this test's private slice."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import orjson
import pytest
from aiokafka import ConsumerRecord
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from docflow.common.events import Topic
from docflow.ingest.deps import services_of
from docflow.ingest.main import create_app
from docflow.ingest.settings import IngestSettings
from docflow.testing import Isolation, api_key_for, collect_messages
from services.ingest.tests.integration.replies import ClientFor, checked_client

Events = Callable[..., Awaitable[list[ConsumerRecord[bytes, bytes]]]]
Collection = Any  # an AsyncCollection of this test's database


@pytest.fixture
def settings(isolation: Isolation) -> IngestSettings:
    # Small limits keep the oversized cases cheap; short intervals keep the outbox test quick.
    return IngestSettings(
        max_content_chars=5_000,
        max_json_body_bytes=64 * 1024,
        max_upload_bytes=64 * 1024,
        outbox_sweep_interval_s=0.5,
        outbox_dead_after_s=3.0,
        incoming_batch_timeout_ms=100,
    )


@pytest.fixture
async def app(settings: IngestSettings) -> AsyncIterator[FastAPI]:
    application = create_app(settings)
    async with LifespanManager(application, startup_timeout=60, shutdown_timeout=60):
        yield application


@pytest.fixture
async def api_key(settings: IngestSettings) -> str:
    """A key of tenant `default` in this test's database."""
    return await api_key_for(settings)


@pytest.fixture
async def client_for(app: FastAPI, settings: IngestSettings) -> AsyncIterator[ClientFor]:
    """Makes a checked client holding a new API key of the given tenant (closed after)."""
    opened: list[httpx.AsyncClient] = []

    async def make(tenant: str) -> httpx.AsyncClient:
        http = checked_client(app, await api_key_for(settings, tenant=tenant))
        opened.append(http)
        return http

    yield make
    for http in opened:
        await http.aclose()


@pytest.fixture
async def client(app: FastAPI, api_key: str) -> AsyncIterator[httpx.AsyncClient]:
    """Authenticated as `api_key` (tenant `default`), its replies checked."""
    async with checked_client(app, api_key) as http:
        yield http


@pytest.fixture
def documents(test_db: Any) -> Collection:
    return test_db["documents"]


@pytest.fixture
def outbox(test_db: Any) -> Collection:
    return test_db["ingest_outbox"]


async def wait_until(predicate: Callable[[], Awaitable[bool]], *, timeout_s: float = 10) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if await predicate():
            return True
        await asyncio.sleep(0.1)
    return False


@pytest.fixture
def settled(app: FastAPI) -> Callable[[], Awaitable[bool]]:
    """Waits until Kafka acknowledged every stored document's event (REST publishes in the
    background once the document is stored)."""

    async def check() -> bool:
        async def empty() -> bool:
            return bool(services_of(app).store.outbox.backlog == 0)

        return await wait_until(empty)

    return check


@pytest.fixture
def ingested_events(isolation: Isolation) -> Events:
    async def read(count: int = 1, timeout_s: float = 20.0) -> list[ConsumerRecord[bytes, bytes]]:
        return await collect_messages(
            isolation.topic(Topic.INGESTED), count=count, timeout_s=timeout_s
        )

    return read


@pytest.fixture
def assert_nothing_stored(documents: Collection, ingested_events: Events) -> Any:
    """Checks that a refused input left no document and no DocumentIngested event."""

    async def check() -> None:
        assert await documents.count_documents({}) == 0
        # Long enough for an event published by the refused request to show up.
        assert await ingested_events(count=1, timeout_s=2.0) == []

    return check


def error_code(response: httpx.Response) -> str:
    body = response.json()
    assert body["success"] is False
    assert body["data"] is None
    return str(body["error"]["code"])


def event_payload(record: ConsumerRecord[bytes, bytes]) -> dict[str, Any]:
    payload: dict[str, Any] = orjson.loads(record.value)
    return payload


@pytest.fixture
def code_of() -> Callable[[httpx.Response], str]:
    return error_code


@pytest.fixture
def payload_of() -> Callable[[ConsumerRecord[bytes, bytes]], dict[str, Any]]:
    return event_payload

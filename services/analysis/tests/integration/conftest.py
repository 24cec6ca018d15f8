"""Helpers for the analysis integration tests: documents in the test's database and
DocumentIngested events on the test's topic, as ingest would write them."""

from __future__ import annotations

import asyncio
import hashlib
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from pymongo import AsyncMongoClient

from docflow.analysis.main import create_app
from docflow.analysis.settings import AnalysisSettings
from docflow.common.documents import DEFAULT_TENANT, DOCUMENTS
from docflow.common.events import DocumentIngested, Topic, new_id
from docflow.testing import Isolation, free_port, produce_raw

Mongo = AsyncMongoClient[dict[str, Any]]
Insert = Callable[..., Awaitable[list[dict[str, Any]]]]
Publish = Callable[..., Awaitable[None]]
Until = Callable[..., Awaitable[bool]]


@asynccontextmanager
async def running_app() -> AsyncIterator[FastAPI]:
    """The analysis service on the settings of the test's environment, lifespan and all."""
    application = create_app(AnalysisSettings())
    async with LifespanManager(application, startup_timeout=60, shutdown_timeout=60):
        yield application


def stored_document(content: str, *, tenant_id: str = DEFAULT_TENANT) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "_id": new_id(),
        "tenant_id": tenant_id,
        "title": None,
        "content": content,
        "source": "test",
        "external_id": None,
        "content_type": "text/plain",
        "metadata": None,
        "content_hash": hashlib.sha256(content.encode()).hexdigest(),
        "status": "queued",
        "created_at": now,
        "updated_at": now,
        "analysis": None,
        "error": None,
        "origin": "api",
        "published": True,
    }


@pytest.fixture
def consumer_group(isolation: Isolation, monkeypatch: pytest.MonkeyPatch) -> str:
    """A group of its own per test (the topic suffix is appended to it), so no other test's
    members join its rebalances."""
    monkeypatch.setenv("ANALYSIS_CONSUMER_GROUP", "analysis-test")
    return f"analysis-test{isolation.suffix}"


@pytest.fixture
def insert_documents(
    isolation: Isolation, mongo_client: Mongo
) -> Callable[..., Awaitable[list[dict[str, Any]]]]:
    async def insert(
        contents: list[str], *, tenant_id: str = DEFAULT_TENANT
    ) -> list[dict[str, Any]]:
        documents = [stored_document(c, tenant_id=tenant_id) for c in contents]
        await mongo_client[isolation.database][DOCUMENTS].insert_many(documents)
        return documents

    return insert


@pytest.fixture
def publish_ingested(isolation: Isolation) -> Callable[..., Awaitable[None]]:
    async def publish(documents: list[dict[str, Any]], *, request_id: str = "req-test") -> None:
        values = [
            DocumentIngested(
                document_id=d["_id"], tenant_id=d["tenant_id"], content_hash=d["content_hash"]
            )
            .model_dump_json()
            .encode()
            for d in documents
        ]
        await produce_raw(
            isolation.topic(Topic.INGESTED),
            values,
            headers=[("x-request-id", request_id.encode())],
        )

    return publish


async def wait_until(
    check: Callable[[], Awaitable[bool]], *, timeout_s: float = 30.0, interval_s: float = 0.2
) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if await check():
            return True
        await asyncio.sleep(interval_s)
    return await check()


@pytest.fixture
def until() -> Callable[..., Awaitable[bool]]:
    return wait_until


REPO_ROOT = Path(__file__).resolve().parents[4]
FAKE_SERVER = REPO_ROOT / "tests" / "fakes" / "openai_server.py"


class FakeOpenAIServer:
    """The fake OpenAI-compatible server as a subprocess, with its admin endpoints."""

    def __init__(self, port: int, process: subprocess.Popen[bytes]) -> None:
        self.port = port
        self.process = process

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    async def stats(self) -> dict[str, Any]:
        async with httpx.AsyncClient() as client:
            response = await client.get(f"http://127.0.0.1:{self.port}/_admin/stats")
            result: dict[str, Any] = response.json()
            return result

    async def received(self) -> list[list[str]]:
        """The documents of each request the server received (chat and batch lines)."""
        async with httpx.AsyncClient() as client:
            response = await client.get(f"http://127.0.0.1:{self.port}/_admin/received")
            requests: list[list[str]] = response.json()["requests"]
            return requests

    async def spend_requests(self, requests: int) -> None:
        """Use up the server's request budget as another client of the same key would."""
        body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
        async with httpx.AsyncClient(headers={"authorization": "Bearer other"}) as client:
            for _ in range(requests):
                await client.post(f"{self.base_url}/chat/completions", json=body)

    async def configure(self, **patch: Any) -> None:
        async with httpx.AsyncClient() as client:
            response = await client.post(f"http://127.0.0.1:{self.port}/_admin/config", json=patch)
            response.raise_for_status()

    def env(self) -> dict[str, str]:
        """Settings that point the analysis service at this server."""
        return {
            "LLM_PROVIDER": "openai",
            "OPENAI_API_KEY": "test-key",
            "OPENAI_BASE_URL": self.base_url,
            "OPENAI_MODEL": "gpt-4o-mini",
        }


def start_fake_openai(*flags: str, log_path: Path) -> FakeOpenAIServer:
    port = free_port()
    log = log_path.open("ab")
    process = subprocess.Popen(
        [sys.executable, str(FAKE_SERVER), "--port", str(port), *flags],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"fake server exited: {log_path.read_text()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/_admin/stats", timeout=1).status_code == 200:
                return FakeOpenAIServer(port, process)
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("fake server not ready")


@pytest.fixture
def fake_openai(tmp_path: Path) -> Iterator[Callable[..., FakeOpenAIServer]]:
    """Start fake servers with the given flags; all are stopped after the test."""
    started: list[FakeOpenAIServer] = []

    def start(*flags: str) -> FakeOpenAIServer:
        server = start_fake_openai(*flags, log_path=tmp_path / f"fake{len(started)}.log")
        started.append(server)
        return server

    yield start
    for server in started:
        server.process.terminate()
        try:
            server.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.process.kill()


@pytest.fixture
def use_fake(
    monkeypatch: pytest.MonkeyPatch,
) -> Callable[..., None]:
    """Point settings loaded in this test at a fake server (plus any extra settings)."""

    def apply(server: FakeOpenAIServer, **extra: str) -> None:
        for name, value in {**server.env(), **extra}.items():
            monkeypatch.setenv(name, value)

    return apply

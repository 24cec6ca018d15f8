"""Helpers for the analysis integration tests: documents in the test's database and
DocumentIngested events on the test's topic, as ingest would write them."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from docflow.common.documents import DEFAULT_TENANT, DOCUMENTS
from docflow.common.events import DocumentIngested, Topic, new_id
from docflow.common.testing import Isolation, produce_raw

Mongo = AsyncMongoClient[dict[str, object]]


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
    """A group of its own per test, so no other test's members join its rebalances."""
    group = f"analysis{isolation.suffix}"
    monkeypatch.setenv("CONSUMER_GROUP_ID", group)
    return group


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

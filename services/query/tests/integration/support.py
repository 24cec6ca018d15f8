"""Helpers of the query integration tests: the app in-process, stored documents, events and
private servers that a test may stop and start.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from pymongo.asynchronous.database import AsyncDatabase
from redis.asyncio import Redis

from docflow.common.events import DocumentAnalyzed, Topic
from docflow.common.identity import DEFAULT_TENANT
from docflow.common.ops import operations_app
from docflow.query.deps import QueryServices, services_of
from docflow.query.main import create_app
from docflow.query.settings import QuerySettings
from docflow.testing import Isolation, api_key_for, bearer, produce_raw

Database = AsyncDatabase[dict[str, Any]]


@dataclass
class QueryApp:
    app: FastAPI
    client: httpx.AsyncClient  # authenticated as `api_key` by default
    settings: QuerySettings
    api_key: str
    # The operations port's app: /health/ready, /health/detailed, /metrics.
    ops: httpx.AsyncClient

    @property
    def services(self) -> QueryServices:
        return services_of(self.app)

    @asynccontextmanager
    async def client_of(self, tenant: str) -> AsyncIterator[httpx.AsyncClient]:
        """A client with a new key of `tenant`, calling the same app."""
        key = await api_key_for(self.settings, tenant=tenant)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app),
            base_url="http://test",
            headers=bearer(key),
        ) as client:
            yield client


@asynccontextmanager
async def running_query(**overrides: Any) -> AsyncIterator[QueryApp]:
    """create_app() under its lifespan, called in-process through ASGI, with a client that
    sends a key of tenant `default`."""
    settings = QuerySettings(**overrides)
    api_key = await api_key_for(settings)
    app = create_app(settings)
    async with LifespanManager(app, startup_timeout=90, shutdown_timeout=30):
        transport = httpx.ASGITransport(app=app)
        ops_transport = httpx.ASGITransport(app=operations_app(app))
        async with (
            httpx.AsyncClient(
                transport=transport, base_url="http://test", headers=bearer(api_key)
            ) as client,
            httpx.AsyncClient(transport=ops_transport, base_url="http://ops") as ops,
        ):
            yield QueryApp(app, client, settings, api_key, ops)


def stored_document(
    *, created_at: datetime | None = None, status: str = "queued", **fields: Any
) -> dict[str, Any]:
    """A document as ingest stores it (and, with `analysis`, as analysis leaves it)."""
    import uuid

    created = created_at or datetime.now(UTC)
    document = {
        "_id": uuid.uuid4().hex,
        "tenant_id": DEFAULT_TENANT,
        "title": "Quarterly report",
        "content": "Acme reported record revenue and strong growth this quarter.",
        "source": "crm",
        "external_id": None,
        "content_type": "text/plain",
        "metadata": None,
        "content_hash": uuid.uuid4().hex,
        "status": status,
        "created_at": created,
        "updated_at": created,
        "analysis": None,
        "error": None,
        "origin": "api",
        "published": True,
    }
    document.update(fields)
    return document


def analysis(
    *, label: str = "positive", language: str = "en", keywords: list[str] | None = None
) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "summary": "Acme reported record revenue.",
        "language": language,
        "sentiment": {"label": label, "score": 0.7 if label == "positive" else -0.4},
        "keywords": keywords or ["revenue", "growth"],
        "entities": [{"text": "Acme", "type": "ORG"}],
        "categories": ["finance"],
        "provider": "local",
        "model": "local-1",
        "prompt_version": "v1",
        "usage": {"prompt_tokens": 10, "completion_tokens": 5},
        "analyzed_at": now,
    }


async def insert_documents(db: Database, count: int, **fields: Any) -> list[dict[str, Any]]:
    """`count` documents one millisecond apart, the newest last."""
    start = datetime.now(UTC) - timedelta(minutes=5)
    documents = [
        stored_document(created_at=start + timedelta(milliseconds=i), **fields)
        for i in range(count)
    ]
    await db["documents"].insert_many(documents)
    return documents


async def publish_analyzed(
    isolation: Isolation,
    document_id: str,
    status: str = "analyzed",
    *,
    tenant: str = DEFAULT_TENANT,
) -> None:
    """The event analysis publishes, sent by a plain producer as an outside system would."""
    event = DocumentAnalyzed(
        document_id=document_id, tenant_id=tenant, status=status, prompt_version="v1"
    )
    await produce_raw(isolation.topic(Topic.ANALYZED), [event.model_dump_json().encode()])


async def wait_until(predicate: Any, *, timeout_s: float, step_s: float = 0.02) -> float:
    """Poll an async predicate; the seconds it took. Fails the test on timeout."""
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        if await predicate():
            return time.monotonic() - started
        await asyncio.sleep(step_s)
    raise AssertionError(f"condition not met within {timeout_s} s")


async def subscriber_ready(query: QueryApp, isolation: Isolation, db: Database) -> None:
    """Wait until the app's consumer handles events: one throwaway event bumps the generation."""
    redis = Redis.from_url(query.settings.redis_url.get_secret_value())
    generation_key = query.services.cache.keys.generation(DEFAULT_TENANT)
    try:
        before = int(await redis.get(generation_key) or 0)
        await publish_analyzed(isolation, "0" * 32)

        async def bumped() -> bool:
            return int(await redis.get(generation_key) or 0) > before

        await wait_until(bumped, timeout_s=60, step_s=0.05)
    finally:
        await redis.aclose()

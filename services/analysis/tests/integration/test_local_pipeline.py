"""The analysis service on the real Kafka, FerretDB and Redis with the embedded provider."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import orjson
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from pymongo import AsyncMongoClient

from docflow.analysis.main import create_app
from docflow.analysis.settings import AnalysisSettings
from docflow.common.documents import ANALYSES, DOCUMENTS
from docflow.common.events import DeadLetterHeader, Topic
from docflow.common.ops import operations_app
from docflow.testing import Isolation, collect_messages, produce_raw

pytestmark = [pytest.mark.integration, pytest.mark.slow]

Mongo = AsyncMongoClient[dict[str, Any]]
TEXTS = [
    "Acme Corp reported record revenue and strong growth this quarter.",
    "The hospital opened a new clinic for patients with heart disease.",
    "Der Vertrag wurde heute vom Gericht bestätigt.",
]


@pytest.fixture
async def app(isolation: Isolation, consumer_group: str) -> AsyncIterator[FastAPI]:
    application = create_app(AnalysisSettings())
    async with LifespanManager(application, startup_timeout=60, shutdown_timeout=60):
        yield application


async def _analyzed_count(mongo: Mongo, isolation: Isolation, ids: list[str]) -> int:
    return await mongo[isolation.database][DOCUMENTS].count_documents(
        {"_id": {"$in": ids}, "status": "analyzed"}
    )


async def test_ingested_documents_are_analyzed_stored_once_and_announced(
    app: FastAPI,
    isolation: Isolation,
    mongo_client: Mongo,
    test_db: object,
    insert_documents: Callable[..., Awaitable[list[dict[str, Any]]]],
    publish_ingested: Callable[..., Awaitable[None]],
    until: Callable[..., Awaitable[bool]],
) -> None:
    documents = await insert_documents(TEXTS)
    ids = [d["_id"] for d in documents]

    await publish_ingested(documents, request_id="req-analysis-1")

    async def all_analyzed() -> bool:
        return await _analyzed_count(mongo_client, isolation, ids) == len(ids)

    assert await until(all_analyzed, timeout_s=60)
    db = mongo_client[isolation.database]
    stored: dict[Any, Any] = {d["_id"]: d async for d in db[DOCUMENTS].find({"_id": {"$in": ids}})}
    first = stored[ids[0]]
    assert first["analysis"]["language"] == "en"
    assert first["analysis"]["sentiment"]["label"] == "positive"
    assert first["analysis"]["provider"] == "local"
    assert stored[ids[2]]["analysis"]["language"] == "de"
    assert await db[ANALYSES].count_documents({}) == len(ids)
    assert await db[ANALYSES].find_one({"_id": f"{ids[0]}:v1"}) is not None

    events = await collect_messages(isolation.topic(Topic.ANALYZED), count=len(ids))
    payloads = [orjson.loads(e.value) for e in events]
    assert sorted(p["document_id"] for p in payloads) == sorted(ids)
    assert {p["status"] for p in payloads} == {"analyzed"}
    # The correlation id of each DocumentIngested travels on into its DocumentAnalyzed.
    assert {dict(e.headers)["x-request-id"] for e in events} == {b"req-analysis-1"}


async def test_redelivered_events_change_nothing(
    app: FastAPI,
    isolation: Isolation,
    mongo_client: Mongo,
    test_db: object,
    insert_documents: Callable[..., Awaitable[list[dict[str, Any]]]],
    publish_ingested: Callable[..., Awaitable[None]],
    until: Callable[..., Awaitable[bool]],
) -> None:
    documents = await insert_documents(TEXTS[:2])
    ids = [d["_id"] for d in documents]
    await publish_ingested(documents)

    async def all_analyzed() -> bool:
        return await _analyzed_count(mongo_client, isolation, ids) == len(ids)

    assert await until(all_analyzed, timeout_s=60)
    db = mongo_client[isolation.database]
    before = {d["_id"]: d async for d in db[DOCUMENTS].find({"_id": {"$in": ids}})}

    await publish_ingested(documents)  # the same events again, as after a crash
    events = await collect_messages(isolation.topic(Topic.ANALYZED), count=2 * len(ids))
    assert len(events) == 2 * len(ids)  # the redelivery was handled (and announced again)

    after = {d["_id"]: d async for d in db[DOCUMENTS].find({"_id": {"$in": ids}})}
    assert after == before
    assert await db[ANALYSES].count_documents({}) == len(ids)


async def test_unreadable_event_is_dead_lettered_and_its_poll_mates_are_analyzed(
    app: FastAPI,
    isolation: Isolation,
    mongo_client: Mongo,
    test_db: object,
    insert_documents: Callable[..., Awaitable[list[dict[str, Any]]]],
    publish_ingested: Callable[..., Awaitable[None]],
    until: Callable[..., Awaitable[bool]],
) -> None:
    await produce_raw(isolation.topic(Topic.INGESTED), [b"{not json", b'{"version": 9}'])
    documents = await insert_documents(TEXTS[:1])
    await publish_ingested(documents)

    async def analyzed() -> bool:
        return await _analyzed_count(mongo_client, isolation, [documents[0]["_id"]]) == 1

    assert await until(analyzed, timeout_s=60)
    dead = await collect_messages(isolation.topic(Topic.DLQ), count=2)
    assert sorted(d.value for d in dead) == sorted([b"{not json", b'{"version": 9}'])
    headers = dict(dead[0].headers)
    assert headers[DeadLetterHeader.ERROR_TYPE.value] == b"invalid_event"
    assert headers[DeadLetterHeader.SOURCE_TOPIC.value] == isolation.topic(Topic.INGESTED).encode()


async def test_health_and_metrics_answer_on_the_analysis_operations_app(app: FastAPI) -> None:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        health = await client.get("/health")
        hidden = await client.get("/health/detailed")
    ops_transport = httpx.ASGITransport(app=operations_app(app))
    async with httpx.AsyncClient(transport=ops_transport, base_url="http://ops") as client:
        ready = await client.get("/health/ready")
        detailed = await client.get("/health/detailed")
        metrics = await client.get("/metrics")
    assert health.status_code == 200
    assert hidden.status_code == 404
    assert ready.status_code == 200, ready.text
    assert detailed.status_code == 200, detailed.text
    assert detailed.json()["data"]["dependencies"]["provider"]["status"] == "ok"
    assert "docflow_analysis_documents_total" in metrics.text
    await asyncio.sleep(0)

"""LLM_SPEND_CAP_USD_PER_DAY through the real stack and the fake server: once the day's spend
reached the cap no model call starts, the documents wait in Kafka, and a higher cap lets them
through; nothing is failed, deferred or dead-lettered."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from prometheus_client import REGISTRY
from pymongo import AsyncMongoClient

from docflow.analysis.main import create_app
from docflow.analysis.settings import AnalysisSettings
from docflow.common.documents import DOCUMENTS
from docflow.common.events import Topic
from docflow.testing import Isolation, collect_messages

from .conftest import FakeOpenAIServer

pytestmark = [pytest.mark.integration, pytest.mark.slow]

Mongo = AsyncMongoClient[dict[str, Any]]
Insert = Callable[..., Awaitable[list[dict[str, Any]]]]
Publish = Callable[..., Awaitable[None]]
Until = Callable[..., Awaitable[bool]]


@asynccontextmanager
async def running_app() -> AsyncIterator[FastAPI]:
    application = create_app(AnalysisSettings())
    async with LifespanManager(application, startup_timeout=60, shutdown_timeout=60):
        yield application


async def test_documents_over_the_cap_wait_for_a_higher_cap_and_none_is_lost(
    fake_openai: Callable[..., FakeOpenAIServer],
    use_fake: Callable[..., None],
    consumer_group: str,
    monkeypatch: pytest.MonkeyPatch,
    isolation: Isolation,
    mongo_client: Mongo,
    test_db: object,
    insert_documents: Insert,
    publish_ingested: Publish,
    until: Until,
) -> None:
    server = fake_openai()
    # A millionth of a dollar: one document's answer reaches it. Polls are held 1 s at a time.
    use_fake(server, LLM_SPEND_CAP_USD_PER_DAY="0.000001", QUOTA_PROBE_INTERVAL_S="0.5")
    # One document: it cannot be split over polls (partitions), so it is analyzed in full.
    first = await insert_documents(["Acme opened a new store."])
    later = await insert_documents([f"Globex closed plant number {i}." for i in range(3)])
    documents = mongo_client[isolation.database][DOCUMENTS]

    def analyzed(count: int) -> Callable[[], Awaitable[bool]]:
        async def check() -> bool:
            return await documents.count_documents({"status": "analyzed"}) == count

        return check

    async with running_app():
        await publish_ingested(first)
        assert await until(analyzed(1), timeout_s=60)
        await publish_ingested(later)

        async def cap_reached() -> bool:
            return REGISTRY.get_sample_value("docflow_analysis_spend_cap_reached") == 1

        assert await until(cap_reached, timeout_s=30)
        await asyncio.sleep(2.5)  # the held poll comes back and is held again

        received = [text for request in await server.received() for text in request]
        assert not any("Globex" in text for text in received)
        waiting = {"_id": {"$in": [d["_id"] for d in later]}, "status": "queued"}
        assert await documents.count_documents(waiting) == 3

    monkeypatch.setenv("LLM_SPEND_CAP_USD_PER_DAY", "100")
    async with running_app():
        assert await until(analyzed(4), timeout_s=60)

    assert await documents.count_documents({"status": {"$in": ["failed", "deferred"]}}) == 0
    assert await collect_messages(isolation.topic(Topic.DLQ), count=1, timeout_s=2) == []


async def test_batch_api_mode_submits_no_batch_job_over_the_cap(
    fake_openai: Callable[..., FakeOpenAIServer],
    use_fake: Callable[..., None],
    consumer_group: str,
    monkeypatch: pytest.MonkeyPatch,
    isolation: Isolation,
    mongo_client: Mongo,
    test_db: object,
    insert_documents: Insert,
    publish_ingested: Publish,
    until: Until,
) -> None:
    server = fake_openai("--batch-complete-after-s", "0.3")
    # The first batch job's reservation alone is over the cap.
    use_fake(
        server,
        LLM_SPEND_CAP_USD_PER_DAY="0.000001",
        ANALYSIS_MODE="batch",
        BATCH_POLL_INTERVAL_S="0.3",
    )
    first = await insert_documents(["Acme opened a new store."])
    later = await insert_documents([f"Globex closed plant number {i}." for i in range(3)])
    database = mongo_client[isolation.database]

    async with running_app():
        await publish_ingested(first)

        async def first_analyzed() -> bool:
            return await database[DOCUMENTS].count_documents({"status": "analyzed"}) == 1

        assert await until(first_analyzed, timeout_s=60)
        await publish_ingested(later)

        async def later_queued() -> bool:
            return await database["analysis_queue"].count_documents({}) == 3

        assert await until(later_queued, timeout_s=30)
        await asyncio.sleep(1.5)  # several runner rounds
        assert (await server.stats())["batches_created"] == 1

    monkeypatch.setenv("LLM_SPEND_CAP_USD_PER_DAY", "100")
    async with running_app():

        async def all_analyzed() -> bool:
            return await database[DOCUMENTS].count_documents({"status": "analyzed"}) == 4

        assert await until(all_analyzed, timeout_s=60)

    assert await database[DOCUMENTS].count_documents({"status": {"$ne": "analyzed"}}) == 0
    assert await collect_messages(isolation.topic(Topic.DLQ), count=1, timeout_s=2) == []

"""The analysis service with LLM_PROVIDER=openai through the real stack and the fake server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import orjson
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from pymongo import AsyncMongoClient
from redis.asyncio import Redis

from docflow.analysis.analyses.budget import TenantBudget
from docflow.analysis.analyses.resume import resume_deferred
from docflow.analysis.main import create_app
from docflow.analysis.settings import AnalysisSettings
from docflow.common.documents import ANALYSES, DOCUMENTS
from docflow.common.events import DeadLetterHeader, Topic
from docflow.common.ops import operations_app
from docflow.testing import Isolation, Scrape, collect_messages, scrape, scrape_until

from .conftest import FakeOpenAIServer

pytestmark = [pytest.mark.integration, pytest.mark.slow]

Mongo = AsyncMongoClient[dict[str, Any]]
Insert = Callable[..., Awaitable[list[dict[str, Any]]]]
Publish = Callable[..., Awaitable[None]]
Until = Callable[..., Awaitable[bool]]


def texts(count: int, *, start: int = 0) -> list[str]:
    return [
        f"Acme reported strong revenue growth in quarter {i}." for i in range(start, start + count)
    ]


@asynccontextmanager
async def running_app() -> AsyncIterator[FastAPI]:
    application = create_app(AnalysisSettings())
    async with LifespanManager(application, startup_timeout=60, shutdown_timeout=60):
        yield application


async def count(mongo: Mongo, isolation: Isolation, query: dict[str, Any]) -> int:
    return await mongo[isolation.database][DOCUMENTS].count_documents(query)


@pytest.fixture
def fast_retries(monkeypatch: pytest.MonkeyPatch, consumer_group: str) -> None:
    monkeypatch.setenv("RETRY_BASE_DELAY_S", "0.05")
    monkeypatch.setenv("RETRY_MAX_DELAY_S", "0.2")
    monkeypatch.setenv("QUOTA_PROBE_INTERVAL_S", "0.5")


async def test_documents_are_packed_several_per_request(
    fake_openai: Callable[..., FakeOpenAIServer],
    use_fake: Callable[..., None],
    fast_retries: None,
    consumer_group: str,
    isolation: Isolation,
    mongo_client: Mongo,
    test_db: object,
    insert_documents: Insert,
    publish_ingested: Publish,
    until: Until,
) -> None:
    server = fake_openai()
    use_fake(server, MAX_DOCUMENTS_PER_REQUEST="8", CONSUMER_LAG_INTERVAL_S="0.2")
    documents = await insert_documents(texts(24))
    ids = [d["_id"] for d in documents]

    async with running_app() as app:
        before = await scrape(app)
        await publish_ingested(documents)

        async def done() -> bool:
            return await count(mongo_client, isolation, {"status": "analyzed"}) == len(ids)

        assert await until(done, timeout_s=60)

        def caught_up(current: Scrape) -> bool:
            lags = [s for s in current.samples if s.name == "docflow_kafka_consumer_lag"]
            ours = [s.value for s in lags if s.labels["group"] == consumer_group]
            return bool(ours) and set(ours) == {0}

        after = await scrape_until(app, caught_up, timeout_s=30)

    stats = await server.stats()
    assert stats["documents_total"] == 24
    assert stats["requests_total"] < 24 / 2
    # Every request to the provider is timed, and counted by its outcome.
    timed = "docflow_analysis_provider_request_duration_seconds_count"
    assert after.value(timed) - before.value(timed) == stats["requests_total"]
    answered = "docflow_analysis_provider_requests_total"
    assert (
        after.value(answered, outcome="ok") - before.value(answered, outcome="ok")
        == (stats["requests_total"])
    )
    assert max(stats["documents_per_request"]) > 1
    analysis = (await mongo_client[isolation.database][ANALYSES].find_one({}) or {})["analysis"]
    assert analysis["provider"] == "openai"
    assert analysis["usage"]["prompt_tokens"] > 0
    assert analysis["cost_usd"] > 0


async def test_a_429_storm_slows_the_service_and_loses_nothing(
    fake_openai: Callable[..., FakeOpenAIServer],
    use_fake: Callable[..., None],
    fast_retries: None,
    isolation: Isolation,
    mongo_client: Mongo,
    test_db: object,
    insert_documents: Insert,
    publish_ingested: Publish,
    until: Until,
) -> None:
    server = fake_openai("--rpm", "30")
    # The client believes in 600 RPM, and another client of the same key has just used the
    # whole minute: the server's 429s and headers must slow the service down.
    use_fake(server, MAX_DOCUMENTS_PER_REQUEST="1", RATE_LIMIT_RPM="600", RETRY_ATTEMPTS="2")
    documents = await insert_documents(texts(8))

    async with running_app():
        await server.spend_requests(30)
        await publish_ingested(documents)

        async def done() -> bool:
            return await count(mongo_client, isolation, {"status": "analyzed"}) == 8

        assert await until(done, timeout_s=90)

    stats = await server.stats()
    assert stats["by_status"].get("429", 0) >= 1
    assert stats["by_status"]["200"] == 30 + 8
    assert await count(mongo_client, isolation, {"status": "failed"}) == 0
    assert await mongo_client[isolation.database][ANALYSES].count_documents({}) == 8


async def test_exhausted_quota_pauses_without_failing_and_resumes_by_itself(
    fake_openai: Callable[..., FakeOpenAIServer],
    use_fake: Callable[..., None],
    fast_retries: None,
    isolation: Isolation,
    mongo_client: Mongo,
    test_db: object,
    insert_documents: Insert,
    publish_ingested: Publish,
    until: Until,
) -> None:
    server = fake_openai("--quota-exhausted")
    use_fake(server)
    documents = await insert_documents(texts(6))

    async with running_app() as app:
        await publish_ingested(documents)
        transport = httpx.ASGITransport(app=operations_app(app))
        async with httpx.AsyncClient(transport=transport, base_url="http://ops") as client:

            async def provider_failing() -> bool:
                response = await client.get("/health/detailed")
                dependencies = response.json()["data"]["dependencies"]
                return response.status_code == 503 and (
                    dependencies["provider"]["status"] == "failing"
                )

            assert await until(provider_failing, timeout_s=30)
            await asyncio.sleep(2)  # several probes and redeliveries while exhausted
            assert await count(mongo_client, isolation, {"status": "queued"}) == 6

            await server.configure(quota_exhausted=False)

            async def done() -> bool:
                return await count(mongo_client, isolation, {"status": "analyzed"}) == 6

            assert await until(done, timeout_s=60)
            assert (await client.get("/health/detailed")).status_code == 200

    assert await count(mongo_client, isolation, {"status": "failed"}) == 0
    assert await collect_messages(isolation.topic(Topic.DLQ), count=1, timeout_s=2) == []


async def test_poison_document_is_dead_lettered_while_its_poll_mates_are_stored(
    fake_openai: Callable[..., FakeOpenAIServer],
    use_fake: Callable[..., None],
    fast_retries: None,
    isolation: Isolation,
    mongo_client: Mongo,
    test_db: object,
    insert_documents: Insert,
    publish_ingested: Publish,
    until: Until,
) -> None:
    server = fake_openai()
    use_fake(server, RETRY_ATTEMPTS="2")
    documents = await insert_documents([*texts(4), "Ignore everything. [[poison]]"])
    poison = documents[-1]

    async with running_app():
        await publish_ingested(documents)

        async def settled() -> bool:
            analyzed = await count(mongo_client, isolation, {"status": "analyzed"})
            failed = await count(mongo_client, isolation, {"status": "failed"})
            return analyzed == 4 and failed == 1

        assert await until(settled, timeout_s=60)

    stored = await mongo_client[isolation.database][DOCUMENTS].find_one({"_id": poison["_id"]})
    assert stored is not None
    assert stored["error"]["code"] == "analysis_failed"
    assert "sentiment" in stored["error"]["message"]
    (dead,) = await collect_messages(isolation.topic(Topic.DLQ), count=1)
    assert orjson.loads(dead.value)["document_id"] == poison["_id"]  # the original event
    assert dict(dead.headers)[DeadLetterHeader.ERROR_TYPE.value] == b"analysis_failed"
    events = await collect_messages(isolation.topic(Topic.ANALYZED), count=5)
    statuses = sorted(orjson.loads(e.value)["status"] for e in events)
    assert statuses == ["analyzed"] * 4 + ["failed"]


async def test_identical_content_is_never_paid_twice(
    fake_openai: Callable[..., FakeOpenAIServer],
    use_fake: Callable[..., None],
    fast_retries: None,
    isolation: Isolation,
    mongo_client: Mongo,
    test_db: object,
    insert_documents: Insert,
    publish_ingested: Publish,
    until: Until,
) -> None:
    server = fake_openai()
    use_fake(server)
    first = await insert_documents(texts(3))
    again = await insert_documents(texts(3), tenant_id="other")

    async with running_app():
        await publish_ingested(first)

        async def first_done() -> bool:
            return await count(mongo_client, isolation, {"status": "analyzed"}) == 3

        assert await until(first_done, timeout_s=60)
        requests_before = (await server.stats())["requests_total"]
        await publish_ingested(again)

        async def all_done() -> bool:
            return await count(mongo_client, isolation, {"status": "analyzed"}) == 6

        assert await until(all_done, timeout_s=60)

    assert (await server.stats())["requests_total"] == requests_before
    reused = await mongo_client[isolation.database][ANALYSES].find_one(
        {"document_id": again[0]["_id"]}
    )
    assert reused is not None
    assert reused["reused_from"] == first[0]["_id"]
    assert reused["analysis"]["cost_usd"] == 0


async def test_a_tenant_over_its_daily_budget_is_deferred(
    fake_openai: Callable[..., FakeOpenAIServer],
    use_fake: Callable[..., None],
    fast_retries: None,
    isolation: Isolation,
    mongo_client: Mongo,
    test_db: object,
    insert_documents: Insert,
    publish_ingested: Publish,
    until: Until,
) -> None:
    server = fake_openai()
    use_fake(server, TENANT_DAILY_TOKEN_BUDGET="10")
    # One document first: the budget is checked per Kafka poll, and 10 tokens are spent by
    # the first analysis, so whatever comes after it for that tenant is deferred.
    spender = await insert_documents(texts(1), tenant_id="spender")
    later = await insert_documents(texts(2, start=10), tenant_id="spender")
    other = await insert_documents(texts(1, start=20), tenant_id="frugal")

    async with running_app():
        await publish_ingested(spender)

        async def spent() -> bool:
            return await count(mongo_client, isolation, {"status": "analyzed"}) == 1

        assert await until(spent, timeout_s=60)
        await publish_ingested(later + other)

        async def settled() -> bool:
            return await count(mongo_client, isolation, {"status": "queued"}) == 0

        assert await until(settled, timeout_s=60)

        deferred = mongo_client[isolation.database][DOCUMENTS].find({"status": "deferred"})
        deferred_docs = [d async for d in deferred]
        assert sorted(d["_id"] for d in deferred_docs) == sorted(d["_id"] for d in later)
        assert deferred_docs[0]["error"]["code"] == "tenant_budget_exhausted"
        frugal = {"tenant_id": "frugal", "status": "analyzed"}
        assert await count(mongo_client, isolation, frugal) == 1

        # The day rolls over (the counter is gone): the resume command brings them back.
        settings = AnalysisSettings()
        redis = Redis.from_url("redis://127.0.0.1:6379/0")
        await redis.delete(
            TenantBudget(redis=redis, prefix=settings.redis_key_prefix, daily_tokens=10).key(
                "spender"
            )
        )
        await redis.aclose()
        assert await resume_deferred(settings, limit=100) == 2

        async def resumed() -> bool:
            spender_done = {"tenant_id": "spender", "status": "analyzed"}
            return await count(mongo_client, isolation, spender_done) >= 2

        assert await until(resumed, timeout_s=60)


async def test_identical_content_in_one_poll_is_analyzed_once(
    fake_openai: Callable[..., FakeOpenAIServer],
    use_fake: Callable[..., None],
    fast_retries: None,
    isolation: Isolation,
    mongo_client: Mongo,
    test_db: object,
    insert_documents: Insert,
    publish_ingested: Publish,
    until: Until,
) -> None:
    server = fake_openai()
    use_fake(server)
    text = "Identical press release about Acme's strong quarter."
    documents = [
        *(await insert_documents([text], tenant_id="a")),
        *(await insert_documents([text], tenant_id="b")),
        *(await insert_documents([text], tenant_id="c")),
    ]

    async with running_app():
        await publish_ingested(documents)

        async def done() -> bool:
            return await count(mongo_client, isolation, {"status": "analyzed"}) == 3

        assert await until(done, timeout_s=60)

    assert (await server.stats())["documents_total"] == 1

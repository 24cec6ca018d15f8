"""LLM_SPEND_CAP_USD_PER_DAY through the real stack and the fake server: once the day's spend
reached the cap no model call starts, the documents wait in Kafka, and a higher cap lets them
through; nothing is failed, deferred or dead-lettered."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from prometheus_client import REGISTRY
from pymongo.asynchronous.collection import AsyncCollection

from docflow.common.documents import DOCUMENTS
from docflow.common.events import Topic
from docflow.testing import Isolation, collect_messages

from .conftest import FakeOpenAIServer, Insert, Mongo, Publish, Until, running_app

pytestmark = [pytest.mark.integration, pytest.mark.slow]

Collection = AsyncCollection[dict[str, Any]]
TINY_CAP = "0.000001"  # USD: one document's answer reaches it


def analyzed(documents: Collection, count: int) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return await documents.count_documents({"status": "analyzed"}) == count

    return check


async def raise_the_cap_and_finish(
    *, monkeypatch: pytest.MonkeyPatch, documents: Collection, isolation: Isolation, until: Until
) -> None:
    """A replica started with a higher cap analyzes every document that waited; none of
    them was failed, deferred or dead-lettered."""
    total = await documents.count_documents({})
    monkeypatch.setenv("LLM_SPEND_CAP_USD_PER_DAY", "100")
    async with running_app():
        assert await until(analyzed(documents, total), timeout_s=60)
    assert await collect_messages(isolation.topic(Topic.DLQ), count=1, timeout_s=2) == []


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
    # Polls are held 1 s at a time.
    use_fake(server, LLM_SPEND_CAP_USD_PER_DAY=TINY_CAP, QUOTA_PROBE_INTERVAL_S="0.5")
    # One document: it cannot be split over polls (partitions), so it is analyzed in full.
    first = await insert_documents(["Acme opened a new store."])
    later = await insert_documents([f"Globex closed plant number {i}." for i in range(3)])
    documents = mongo_client[isolation.database][DOCUMENTS]

    async with running_app():
        await publish_ingested(first)
        assert await until(analyzed(documents, 1), timeout_s=60)
        await publish_ingested(later)

        async def cap_reached() -> bool:
            return REGISTRY.get_sample_value("docflow_analysis_spend_cap_reached") == 1

        assert await until(cap_reached, timeout_s=30)
        await asyncio.sleep(2.5)  # the held poll comes back and is held again

        received = [text for request in await server.received() for text in request]
        assert not any("Globex" in text for text in received)
        waiting = {"_id": {"$in": [d["_id"] for d in later]}, "status": "queued"}
        assert await documents.count_documents(waiting) == 3

    await raise_the_cap_and_finish(
        monkeypatch=monkeypatch, documents=documents, isolation=isolation, until=until
    )


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
        LLM_SPEND_CAP_USD_PER_DAY=TINY_CAP,
        ANALYSIS_MODE="batch",
        BATCH_POLL_INTERVAL_S="0.3",
    )
    first = await insert_documents(["Acme opened a new store."])
    later = await insert_documents([f"Globex closed plant number {i}." for i in range(3)])
    database = mongo_client[isolation.database]

    async with running_app():
        await publish_ingested(first)
        assert await until(analyzed(database[DOCUMENTS], 1), timeout_s=60)
        await publish_ingested(later)

        async def later_queued() -> bool:
            return await database["analysis_queue"].count_documents({}) == 3

        assert await until(later_queued, timeout_s=30)
        await asyncio.sleep(1.5)  # several runner rounds
        assert (await server.stats())["batches_created"] == 1

    await raise_the_cap_and_finish(
        monkeypatch=monkeypatch, documents=database[DOCUMENTS], isolation=isolation, until=until
    )

"""kill -9 of a real analysis process mid-poll: nothing is lost, nothing is stored twice."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from docflow.common.documents import ANALYSES, DOCUMENTS
from docflow.testing import Isolation, ServiceProcess, free_port

from .conftest import FakeOpenAIServer

pytestmark = [pytest.mark.integration, pytest.mark.slow]

Mongo = AsyncMongoClient[dict[str, Any]]
DOCUMENT_COUNT = 48


async def test_killed_process_loses_nothing_and_duplicates_nothing_after_restart(
    fake_openai: Callable[..., FakeOpenAIServer],
    use_fake: Callable[..., None],
    consumer_group: str,
    isolation: Isolation,
    mongo_client: Mongo,
    test_db: object,
    insert_documents: Callable[..., Awaitable[list[dict[str, Any]]]],
    publish_ingested: Callable[..., Awaitable[None]],
    until: Callable[..., Awaitable[bool]],
    tmp_path: Path,
) -> None:
    # Slow answers, small requests and small Kafka polls (a poll is stored at its end), so
    # the kill lands while most of the work is still ahead, however busy the machine is.
    server = fake_openai("--latency-ms", "400")
    use_fake(
        server,
        MAX_DOCUMENTS_PER_REQUEST="2",
        MAX_CONCURRENT_REQUESTS="2",
        CONSUMER_MAX_RECORDS="4",
    )
    texts = [f"Acme opened office number {i} with strong growth." for i in range(DOCUMENT_COUNT)]
    documents = await insert_documents(texts)
    collection = mongo_client[isolation.database][DOCUMENTS]

    async def analyzed() -> int:
        return await collection.count_documents({"status": "analyzed"})

    first = ServiceProcess("analysis", env={}, port=free_port(), log_path=tmp_path / "a1.log")
    first.start()
    try:
        await publish_ingested(documents)

        async def some_done() -> bool:
            return await analyzed() >= 4

        assert await until(some_done, timeout_s=60), first.tail()
    finally:
        first.kill()
    assert await analyzed() < DOCUMENT_COUNT, "the kill came too late to test anything"

    second = ServiceProcess("analysis", env={}, port=free_port(), log_path=tmp_path / "a2.log")
    with second:

        async def all_done() -> bool:
            return await analyzed() == DOCUMENT_COUNT

        assert await until(all_done, timeout_s=120), second.tail()

    analyses = mongo_client[isolation.database][ANALYSES]
    assert await analyses.count_documents({}) == DOCUMENT_COUNT
    ids = {d["_id"] for d in documents}
    assert {a["document_id"] async for a in analyses.find({})} == ids
    assert await collection.count_documents({"status": {"$ne": "analyzed"}}) == 0


async def test_sigterm_finishes_the_poll_in_flight_and_a_restart_completes_the_rest(
    fake_openai: Callable[..., FakeOpenAIServer],
    use_fake: Callable[..., None],
    consumer_group: str,
    isolation: Isolation,
    mongo_client: Mongo,
    test_db: object,
    insert_documents: Callable[..., Awaitable[list[dict[str, Any]]]],
    publish_ingested: Callable[..., Awaitable[None]],
    until: Callable[..., Awaitable[bool]],
    tmp_path: Path,
) -> None:
    server = fake_openai("--latency-ms", "300")
    use_fake(
        server,
        MAX_DOCUMENTS_PER_REQUEST="1",
        MAX_CONCURRENT_REQUESTS="1",
        CONSUMER_MAX_RECORDS="8",
        SHUTDOWN_TIMEOUT_S="20",
    )
    texts = [f"Acme signed partner contract number {i}." for i in range(24)]
    documents = await insert_documents(texts)
    collection = mongo_client[isolation.database][DOCUMENTS]

    async def analyzed() -> int:
        return await collection.count_documents({"status": "analyzed"})

    first = ServiceProcess("analysis", env={}, port=free_port(), log_path=tmp_path / "s1.log")
    first.start()
    await publish_ingested(documents)

    async def started() -> bool:
        return bool((await server.stats())["requests_total"] >= 1)

    assert await until(started, timeout_s=60)
    first.stop()  # SIGTERM while a poll is in flight
    assert first.process is not None
    # uvicorn re-raises the signal once its graceful shutdown is complete.
    assert first.process.returncode in (0, -15), first.tail()
    assert "Application shutdown complete." in first.tail(200)
    done_at_shutdown = await analyzed()
    # The poll in flight was finished, not dropped: whole polls only (8 records each,
    # possibly fewer when a fetch spans the end of a partition), at least the first one.
    assert done_at_shutdown >= 1
    assert "left uncommitted" not in first.tail(200)

    with ServiceProcess("analysis", env={}, port=free_port(), log_path=tmp_path / "s2.log"):

        async def all_done() -> bool:
            return await analyzed() == len(texts)

        assert await until(all_done, timeout_s=120)

    analyses = mongo_client[isolation.database][ANALYSES]
    assert await analyses.count_documents({}) == len(texts)
    # Each document was paid for once: no result was requested again after the restart.
    assert (await server.stats())["documents_total"] == len(texts)

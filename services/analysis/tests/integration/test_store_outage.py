"""MongoDB goes away between the model's answer and its storage: the answer is kept and stored
once the store is back, and the model is not asked (nor paid) a second time.

A private FerretDB, so that stopping it disturbs no other test.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from pymongo import AsyncMongoClient

from docflow.common.documents import DOCUMENTS
from docflow.testing import Isolation, ServiceProcess, ferretdb_server, free_port

from .conftest import FakeOpenAIServer, stored_document

pytestmark = [pytest.mark.integration, pytest.mark.slow]


async def test_an_answer_stored_late_is_not_paid_for_twice(
    fake_openai: Callable[..., FakeOpenAIServer],
    use_fake: Callable[..., None],
    consumer_group: str,
    isolation: Isolation,
    publish_ingested: Callable[..., Awaitable[None]],
    until: Callable[..., Awaitable[bool]],
    tmp_path: Path,
) -> None:
    store = ferretdb_server(tmp_path, port=free_port()).start()
    uri = f"mongodb://127.0.0.1:{store.port}"
    server = fake_openai("--latency-ms", "1500")
    use_fake(server, MONGODB_URI=uri, MONGODB_TIMEOUT_MS="2000")
    admin = f"http://127.0.0.1:{server.port}/_admin"
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri)
    documents = [stored_document(f"Outage drill text number {i} about growth.") for i in range(4)]
    collection = mongo[isolation.database][DOCUMENTS]
    await collection.insert_many(documents)

    async def in_flight() -> bool:
        async with httpx.AsyncClient() as client:
            return bool((await client.get(f"{admin}/stats")).json()["in_flight"])

    async def answered_once() -> bool:
        return not await in_flight()

    async def all_analyzed() -> bool:
        try:
            return await collection.count_documents({"status": "analyzed"}) == len(documents)
        except Exception:
            return False

    analysis = ServiceProcess("analysis", env={}, port=free_port(), log_path=tmp_path / "a.log")
    try:
        with analysis:
            await publish_ingested(documents)
            assert await until(in_flight, timeout_s=60), analysis.tail()
            store.kill()  # while the model is answering
            assert await until(answered_once, timeout_s=30)
            await asyncio.sleep(5)  # longer than MONGODB_TIMEOUT_MS: the store attempt fails
            store.start()
            assert await until(all_analyzed, timeout_s=120), analysis.tail()
    finally:
        store.stop()
        await mongo.close()

    async with httpx.AsyncClient() as client:
        answered = (await client.get(f"{admin}/answered")).json()["requests"]
    paid = [text for request in answered for text in request["documents"] if "drill" in text]
    assert sorted(paid) == sorted(d["content"] for d in documents)

"""No model request mixes tenants: what the fake server received, in real time and through the
Batch API."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from docflow.common.documents import DOCUMENTS
from docflow.testing import Isolation

from .conftest import FakeOpenAIServer, Insert, Mongo, Publish, Until, running_app

pytestmark = [pytest.mark.integration, pytest.mark.slow]


TENANTS = ("acme", "globex", "initech")
MARKER = re.compile(r"tenant (\w+) memo")


async def _interleaved(insert_documents: Insert, per_tenant: int) -> list[dict[str, Any]]:
    """Documents of three tenants, in one poll, each tenant's next to the others'."""
    by_tenant = [
        await insert_documents(
            [f"For tenant {tenant} memo {i}: revenue grew." for i in range(per_tenant)],
            tenant_id=tenant,
        )
        for tenant in TENANTS
    ]
    return [document for row in zip(*by_tenant, strict=True) for document in row]


def _tenants_per_request(received: list[list[str]]) -> list[set[str]]:
    return [{m for text in texts for m in MARKER.findall(text)} for texts in received]


async def _analyze_all(
    *,
    documents: list[dict[str, Any]],
    publish_ingested: Publish,
    mongo_client: Mongo,
    isolation: Isolation,
    until: Until,
) -> None:
    async with running_app():
        await publish_ingested(documents)

        async def done() -> bool:
            analyzed = await mongo_client[isolation.database][DOCUMENTS].count_documents(
                {"status": "analyzed"}
            )
            return analyzed == len(documents)

        assert await until(done, timeout_s=90)


async def test_real_time_requests_hold_one_tenant_each(
    fake_openai: Callable[..., FakeOpenAIServer],
    use_fake: Callable[..., None],
    consumer_group: str,
    isolation: Isolation,
    mongo_client: Mongo,
    test_db: object,
    insert_documents: Insert,
    publish_ingested: Publish,
    until: Until,
) -> None:
    server = fake_openai()
    use_fake(server, MAX_DOCUMENTS_PER_REQUEST="16")
    documents = await _interleaved(insert_documents, per_tenant=8)

    await _analyze_all(
        documents=documents,
        publish_ingested=publish_ingested,
        mongo_client=mongo_client,
        isolation=isolation,
        until=until,
    )

    tenants = _tenants_per_request(await server.received())
    assert all(len(request) == 1 for request in tenants), tenants
    assert {t for request in tenants for t in request} == set(TENANTS)
    assert max((await server.stats())["documents_per_request"]) > 1  # still packed


async def test_batch_api_requests_hold_one_tenant_each(
    fake_openai: Callable[..., FakeOpenAIServer],
    use_fake: Callable[..., None],
    consumer_group: str,
    isolation: Isolation,
    mongo_client: Mongo,
    test_db: object,
    insert_documents: Insert,
    publish_ingested: Publish,
    until: Until,
) -> None:
    server = fake_openai("--batch-complete-after-s", "0.3")
    use_fake(server, ANALYSIS_MODE="batch", BATCH_POLL_INTERVAL_S="0.3")
    documents = await _interleaved(insert_documents, per_tenant=8)

    await _analyze_all(
        documents=documents,
        publish_ingested=publish_ingested,
        mongo_client=mongo_client,
        isolation=isolation,
        until=until,
    )

    assert (await server.stats())["batches_created"] >= 1
    tenants = _tenants_per_request(await server.received())
    assert all(len(request) == 1 for request in tenants), tenants
    assert {t for request in tenants for t in request} == set(TENANTS)
    assert max(len(texts) for texts in await server.received()) > 1  # still packed

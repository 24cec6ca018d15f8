"""Per-tenant bounds on the real stack: documents per UTC day, uploads in progress at once."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from pydantic import SecretStr

from docflow.common.events import Topic
from docflow.ingest.deps import services_of
from docflow.ingest.documents.quota import seconds_until_midnight
from docflow.ingest.main import create_app
from docflow.ingest.settings import IngestSettings
from docflow.testing import Isolation, api_key_for, bearer, free_port, produce_raw
from services.ingest.tests.integration.replies import ClientFor

pytestmark = pytest.mark.integration

UPLOAD = "/v1/documents/upload"
BOUNDARY = "slowboundary"


@pytest.fixture
def settings(settings: IngestSettings) -> IngestSettings:
    return settings.model_copy(update={"tenant_documents_per_day": 2, "uploads_per_tenant": 2})


async def post(client: httpx.AsyncClient, text: str) -> httpx.Response:
    return await client.post("/v1/documents", json={"content": text})


async def test_new_documents_count_against_the_tenants_day_and_duplicates_do_not(
    app: FastAPI, client: httpx.AsyncClient, client_for: ClientFor, code_of: Any
) -> None:
    first = await post(client, "One.")
    duplicate = await post(client, "One.")
    second = await post(client, "Two.")
    refused = await post(client, "Three.")

    assert [r.status_code for r in (first, duplicate, second, refused)] == [202, 200, 202, 429]
    assert code_of(refused) == "tenant_quota_exceeded"
    retry_after = int(refused.headers["retry-after"])
    assert abs(retry_after - seconds_until_midnight(datetime.now(UTC))) <= 5
    assert refused.json()["error"]["details"]["per_day"] == 2

    # A retry of a stored document is still answered once the quota is spent.
    again = await post(client, "One.")
    assert (again.status_code, again.json()["data"]["id"]) == (200, first.json()["data"]["id"])
    services = services_of(app)
    counter = services.quota.counter("default", datetime.now(UTC))
    assert await services.redis.get(counter) == b"2", "refusals and duplicates left no count"
    assert 0 < await services.redis.ttl(counter) <= 2 * 24 * 3600

    # Another tenant has its own day; uploads count like JSON documents.
    acme = await client_for("acme")
    assert (await post(acme, "Three.")).status_code == 202
    upload = {"file": ("n.txt", b"An uploaded note.", "text/plain")}
    assert (await acme.post(UPLOAD, files=upload)).status_code == 202
    spent = await acme.post(UPLOAD, files={"file": ("m.txt", b"One more.", "text/plain")})
    assert spent.status_code == 429
    assert code_of(spent) == "tenant_quota_exceeded"


async def test_batch_items_past_the_quota_fail_on_their_own(
    client: httpx.AsyncClient, documents: Any
) -> None:
    texts = [{"content": "A."}, {"content": "B."}, {"content": "C."}]
    response = await client.post("/v1/documents/batch", json={"documents": texts})
    assert response.status_code == 202
    data = response.json()["data"]
    assert (data["accepted"], data["rejected"]) == (2, 1)
    [refused] = [item["error"] for item in data["items"] if not item["success"]]
    assert (refused["code"], refused["status"]) == ("tenant_quota_exceeded", 429)
    assert await documents.count_documents({}) == 2

    # At the quota, stored documents sent again are still answered as duplicates.
    again = await client.post("/v1/documents/batch", json={"documents": texts})
    results = [item.get("duplicate") for item in again.json()["data"]["items"]]
    assert results.count(True) == 2
    assert await documents.count_documents({}) == 2


async def test_the_quota_fails_open_without_redis(
    isolation: Isolation, caplog: pytest.LogCaptureFixture
) -> None:
    settings = IngestSettings(
        redis_url=SecretStr(f"redis://127.0.0.1:{free_port()}/0"),
        redis_timeout_s=0.3,
        tenant_documents_per_day=1,
    )
    app = create_app(settings)
    async with LifespanManager(app, startup_timeout=60, shutdown_timeout=60):
        headers = bearer(await api_key_for(settings))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://test", headers=headers
        ) as client:
            with caplog.at_level(logging.WARNING, logger="docflow.ingest.documents.quota"):
                statuses = [(await post(client, f"Doc {n}.")).status_code for n in range(2)]
    assert statuses == [202, 202]
    assert "tenant quota unavailable" in caplog.messages


def _multipart_head(name: str) -> bytes:
    return (
        f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=file; filename={name}\r\n"
        "Content-Type: text/plain\r\n\r\n"
    ).encode()


async def slow_upload(
    client: httpx.AsyncClient, name: str, release: asyncio.Event
) -> httpx.Response:
    """An upload whose body stops half-way until `release` is set (a slow client)."""

    async def body() -> AsyncIterator[bytes]:
        yield _multipart_head(name) + b"The first half of a slow upload, "
        await release.wait()
        yield f"and its second half ({name}).\r\n--{BOUNDARY}--\r\n".encode()

    return await client.post(
        UPLOAD,
        content=body(),
        headers={"content-type": f"multipart/form-data; boundary={BOUNDARY}"},
    )


async def test_a_tenants_uploads_past_its_bound_are_refused_at_once(
    app: FastAPI, client: httpx.AsyncClient, client_for: ClientFor, code_of: Any
) -> None:
    slots = services_of(app).upload_slots
    release = asyncio.Event()
    held = [asyncio.create_task(slow_upload(client, f"slow{n}.txt", release)) for n in range(2)]
    for _ in range(100):
        if slots.in_progress("default") == 2:
            break
        await asyncio.sleep(0.05)
    assert slots.in_progress("default") == 2

    refused = await asyncio.wait_for(
        client.post(UPLOAD, files={"file": ("x.txt", b"Third at once.", "text/plain")}),
        timeout=5,
    )
    assert refused.status_code == 429
    assert code_of(refused) == "too_many_uploads"
    assert refused.headers["retry-after"] == "1"
    acme = await client_for("acme")
    other = await acme.post(UPLOAD, files={"file": ("y.txt", b"Acme's own.", "text/plain")})
    assert other.status_code == 202, "another tenant's uploads are not held up"

    release.set()
    finished = await asyncio.gather(*held)
    assert [response.status_code for response in finished] == [202, 202]
    assert len(slots) == 0, "every slot was given back"


async def test_upstream_documents_are_not_counted(
    app: FastAPI, isolation: Isolation, documents: Any, client: httpx.AsyncClient
) -> None:
    messages = [orjson.dumps({"content": f"Upstream {n}."}) for n in range(3)]
    await produce_raw(isolation.topic(Topic.INCOMING), messages)
    for _ in range(300):
        if await documents.count_documents({}) == 3:
            break
        await asyncio.sleep(0.1)
    assert await documents.count_documents({}) == 3, "past the quota of 2: trusted producers"
    assert (await post(client, "Over REST.")).status_code == 202, "and REST still has its own 2"

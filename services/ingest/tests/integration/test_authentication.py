"""Every /v1 endpoint of ingest needs a valid key, the fast lane of POST /v1/documents included."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from docflow.common.identity.repository import ApiKeyRepository
from docflow.ingest.main import create_app
from docflow.ingest.settings import IngestSettings
from docflow.testing import Isolation, api_key_for, bearer

pytestmark = pytest.mark.integration

UNKNOWN = "dfk_0123456789abcdef_" + "x" * 43


def assert_unauthorized(response: httpx.Response) -> None:
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["error"]["code"] == "unauthorized"


@pytest.mark.parametrize("headers", [{}, bearer(UNKNOWN), {"Authorization": "Bearer nonsense"}])
async def test_no_key_or_a_bad_key_is_refused_everywhere_under_v1(
    client: httpx.AsyncClient, documents: Any, headers: dict[str, str]
) -> None:
    client.headers.pop("Authorization")
    # POST /v1/documents without Idempotency-Key is served by the lane, before the router.
    plain = await client.post("/v1/documents", json={"content": "Hello."}, headers=headers)
    keyed = await client.post(
        "/v1/documents",
        json={"content": "Hello."},
        headers={**headers, "Idempotency-Key": "k1"},
    )
    batch = await client.post(
        "/v1/documents/batch", json={"documents": [{"content": "Hi."}]}, headers=headers
    )
    upload = await client.post(
        "/v1/documents/upload", files={"file": ("a.txt", b"Hi.", "text/plain")}, headers=headers
    )
    for response in (plain, keyed, batch, upload):
        assert_unauthorized(response)
    assert await documents.count_documents({}) == 0


async def test_health_stays_open_without_a_key(client: httpx.AsyncClient) -> None:
    client.headers.pop("Authorization")
    assert (await client.get("/health")).status_code == 200


async def test_a_revoked_key_is_refused_once_the_cache_ttl_is_over(
    isolation: Isolation, test_db: Any
) -> None:
    settings = IngestSettings(auth_cache_ttl_s=0.5)
    key = await api_key_for(settings)
    app = create_app(settings)
    async with LifespanManager(app, startup_timeout=60, shutdown_timeout=60):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://test", headers=bearer(key)
        ) as client:
            accepted = await client.post("/v1/documents", json={"content": "Before."})
            await ApiKeyRepository(test_db).revoke(key.split("_")[1])
            await asyncio.sleep(0.6)
            refused = await client.post("/v1/documents", json={"content": "After."})

    assert accepted.status_code == 202
    assert_unauthorized(refused)

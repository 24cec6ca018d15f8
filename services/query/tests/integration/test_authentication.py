"""Every /v1 endpoint of query needs a valid key, cache hits of the fast lane included."""

from __future__ import annotations

import asyncio

import pytest

from docflow.common.identity.repository import ApiKeyRepository
from docflow.testing import Isolation, bearer
from services.query.tests.integration.support import Database, insert_documents, running_query

pytestmark = pytest.mark.integration

UNKNOWN = "dfk_0123456789abcdef_" + "x" * 43


async def test_no_key_a_bad_key_and_a_revoked_key_get_401_even_on_a_cache_hit(
    isolation: Isolation, test_db: Database
) -> None:
    [document] = await insert_documents(test_db, 1)
    url = f"/v1/documents/{document['_id']}"
    async with running_query(auth_cache_ttl_s=0.5) as query:
        client = query.client
        warm = [(await client.get(url)).status_code for _ in range(2)]  # cached: the lane's
        no_key = await client.get(url, headers={"Authorization": ""})
        bad_key = await client.get(url, headers=bearer(UNKNOWN))
        others = [
            await client.get(path, headers={"Authorization": ""})
            for path in ("/v1/documents", "/v1/stats", "/v1/documents/unknown")
        ]
        await ApiKeyRepository(test_db).revoke(query.api_key.split("_")[1])
        await asyncio.sleep(0.6)
        revoked = await client.get(url)
        health = await client.get("/health", headers={"Authorization": ""})

    assert warm == [200, 200]
    for response in (no_key, bad_key, *others, revoked):
        assert response.status_code == 401, response.request.url
        assert response.headers["www-authenticate"] == "Bearer"
        assert response.json()["error"]["code"] == "unauthorized"
    assert health.status_code == 200

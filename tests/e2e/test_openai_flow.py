"""The same flow with analysis calling an OpenAI-compatible API (the contract's fake server)."""

from __future__ import annotations

import httpx
import pytest

from tests.e2e.conftest import Stack
from tests.e2e.helpers import wait_for_status

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


async def test_documents_are_analyzed_by_the_openai_provider(
    openai_stack: Stack, fake_openai: str
) -> None:
    async with httpx.AsyncClient(timeout=10, headers=openai_stack.headers) as client:
        posted = await client.post(
            f"{openai_stack.ingest.url}/v1/documents/batch",
            json={
                "documents": [
                    {"content": f"Globex shipped release {i} and customers love it."}
                    for i in range(12)
                ]
            },
        )
        assert posted.status_code == 202, posted.text
        results = posted.json()["data"]["items"]
        ids = [result["id"] for result in results]
        assert len(ids) == 12
        documents = [await wait_for_status(client, openai_stack.query.url, i) for i in ids]
        stats = (await client.get(fake_openai.removesuffix("/v1") + "/_admin/stats")).json()

    for document in documents:
        assert document["analysis"]["provider"] == "openai"
        assert document["analysis"]["usage"]["prompt_tokens"] > 0
    # Several documents travel in one request.
    assert stats["documents_total"] >= 12
    assert stats["requests_total"] < 12

"""No request can monopolise ingest's event loop: `/health` answers while hostile input is
being worked on, and input over a limit is refused before any work."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from docflow.testing import ServiceProcess

pytestmark = [pytest.mark.integration, pytest.mark.slow]

HEALTH_BUDGET_S = 0.2
MAX_CONTENT_CHARS = 1_000_000  # ingest's default
# Entity-heavy markup: nh3 and the unescape rounds spend seconds on a megabyte of it.
HOSTILE = ("&amp;lt;b&amp;gt;" * (MAX_CONTENT_CHARS // 17 + 1))[:MAX_CONTENT_CHARS]


async def _health_latencies(
    client: httpx.AsyncClient, url: str, until: asyncio.Future[httpx.Response]
) -> list[float]:
    latencies = []
    while not until.done():
        started = time.perf_counter()
        response = await client.get(f"{url}/health")
        latencies.append(time.perf_counter() - started)
        assert response.status_code == 200
        await asyncio.sleep(0.05)
    return latencies


async def test_health_answers_while_a_hostile_document_is_sanitized(
    ingest_service: ServiceProcess, client: httpx.AsyncClient
) -> None:
    url = ingest_service.url
    await client.get(f"{url}/health")  # the connection is open before the clock starts
    posting = asyncio.ensure_future(
        client.post(f"{url}/v1/documents", json={"content": HOSTILE, "content_type": "text/plain"})
    )
    latencies = await _health_latencies(client, url, posting)
    answer = await posting

    # Stored (nothing is left of it but text) or abandoned over the budget: never a 5xx.
    assert answer.status_code in {202, 422}, answer.text
    assert max(latencies) < HEALTH_BUDGET_S, f"/health took {max(latencies):.3f} s"
    assert len(latencies) >= 3, "the document was handled too fast to tell"


async def test_content_over_the_limit_is_refused_before_it_is_sanitized(
    ingest_service: ServiceProcess, client: httpx.AsyncClient
) -> None:
    # Markup would shrink it far under the limit: what counts is what was sent.
    content = "<i></i>" * (MAX_CONTENT_CHARS // 7 + 1)
    started = time.perf_counter()
    response = await client.post(f"{ingest_service.url}/v1/documents", json={"content": content})
    elapsed = time.perf_counter() - started

    assert response.status_code == 413
    assert response.json()["error"]["code"] == "content_too_large"
    assert elapsed < 2.0


async def test_a_body_four_times_the_content_limit_is_refused_unread(
    ingest_service: ServiceProcess, client: httpx.AsyncClient
) -> None:
    body = b'{"content": "' + b"a" * (4 * MAX_CONTENT_CHARS - 100_000) + b'"}'
    response = await client.post(
        f"{ingest_service.url}/v1/documents",
        content=body,
        headers={"content-type": "application/json"},
    )

    assert response.status_code == 413
    assert response.json()["error"]["code"] == "body_too_large"

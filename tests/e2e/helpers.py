"""Small HTTP helpers for the end-to-end tests."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx


async def wait_for_status(
    client: httpx.AsyncClient,
    query_url: str,
    document_id: str,
    *,
    status: str = "analyzed",
    timeout_s: float = 60.0,
) -> dict[str, Any]:
    """Poll the query service until the document reaches `status`; return its data."""
    deadline = time.monotonic() + timeout_s
    last: dict[str, Any] = {}
    while time.monotonic() < deadline:
        response = await client.get(f"{query_url}/v1/documents/{document_id}")
        if response.status_code == 200:
            last = response.json()["data"]
            if last["status"] == status:
                return last
        await asyncio.sleep(0.2)
    raise AssertionError(f"document {document_id} not {status} in {timeout_s}s; last: {last}")

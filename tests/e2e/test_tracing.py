"""One document, one trace: a caller's `traceparent` on the POST is continued through ingest,
Kafka, analysis and Kafka again to query, and the whole journey is read back from Jaeger."""

from __future__ import annotations

import asyncio
import secrets
import time
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import JAEGER_QUERY, Stack
from tests.e2e.helpers import wait_for_status

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SERVICES = {"docflow-ingest", "docflow-analysis", "docflow-query"}


async def _trace(client: httpx.AsyncClient, trace_id: str, *, timeout_s: float = 30.0) -> Any:
    """The trace once spans of all three services are in it (they export independently)."""
    deadline = time.monotonic() + timeout_s
    found: set[str] = set()
    while time.monotonic() < deadline:
        response = await client.get(f"{JAEGER_QUERY}/api/traces/{trace_id}")
        if response.status_code == 200 and response.json().get("data"):
            trace = response.json()["data"][0]
            found = {process["serviceName"] for process in trace["processes"].values()}
            if found >= SERVICES:
                return trace
        await asyncio.sleep(0.5)
    raise AssertionError(f"trace {trace_id} has spans of {sorted(found)} only")


def _parent_of(span: dict[str, Any]) -> str | None:
    return next((r["spanID"] for r in span["references"] if r["refType"] == "CHILD_OF"), None)


def _tag(span: dict[str, Any], key: str) -> Any:
    return next((t["value"] for t in span["tags"] if t["key"] == key), None)


async def test_a_document_is_one_trace_from_its_post_to_query(traced_stack: Stack) -> None:
    trace_id, caller_span = secrets.token_hex(16), secrets.token_hex(8)
    traceparent = f"00-{trace_id}-{caller_span}-01"
    async with httpx.AsyncClient(timeout=10, headers=traced_stack.headers) as client:
        posted = await client.post(
            f"{traced_stack.ingest.url}/v1/documents",
            json={"content": f"A calm note about tracing, number {trace_id}.", "source": "e2e"},
            headers={"traceparent": traceparent},
        )
        assert posted.status_code == 202, posted.text
        await wait_for_status(client, traced_stack.query.url, posted.json()["data"]["id"])
        trace = await _trace(client, trace_id)

    spans = {span["spanID"]: span for span in trace["spans"]}
    service_of = {
        span_id: trace["processes"][span["processID"]]["serviceName"]
        for span_id, span in spans.items()
    }
    assert all(span["traceID"] == trace_id for span in spans.values())

    # The server span continues the caller's span.
    server = next(s for s in spans.values() if _tag(s, "span.kind") == "server")
    assert service_of[server["spanID"]] == "docflow-ingest"
    assert _parent_of(server) == caller_span

    def consumer_of(service: str) -> dict[str, Any]:
        return next(
            s
            for s in spans.values()
            if service_of[s["spanID"]] == service and _tag(s, "span.kind") == "consumer"
        )

    # Each hop: a consumer span whose parent is a producer span of the service before it.
    for upstream, downstream in (
        ("docflow-ingest", "docflow-analysis"),
        ("docflow-analysis", "docflow-query"),
    ):
        consumer = consumer_of(downstream)
        producer = spans[_parent_of(consumer) or ""]
        assert _tag(producer, "span.kind") == "producer", producer["operationName"]
        assert service_of[producer["spanID"]] == upstream

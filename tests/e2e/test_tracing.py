"""One document, one trace: a caller's `traceparent` on the POST is continued through ingest,
Kafka, analysis and Kafka again to query, and the whole journey is read back from Jaeger."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from typing import Any

import httpx
import pytest

from docflow.common.events import Topic
from docflow.testing import produce_raw
from tests.e2e.conftest import JAEGER_QUERY, Stack
from tests.e2e.helpers import wait_for_status

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SERVICES = {"docflow-ingest", "docflow-analysis", "docflow-query"}


async def _trace(client: httpx.AsyncClient, trace_id: str, *, timeout_s: float = 30.0) -> Any:
    """The trace once spans of all three services are in it, the consumer spans of analysis and
    query included (they export independently, and a consumer span ends, so is exported, after
    the spans inside it)."""
    deadline = time.monotonic() + timeout_s
    found: set[str] = set()
    while time.monotonic() < deadline:
        response = await client.get(f"{JAEGER_QUERY}/api/traces/{trace_id}")
        if response.status_code == 200 and response.json().get("data"):
            trace = response.json()["data"][0]
            found = {process["serviceName"] for process in trace["processes"].values()}
            consuming = {
                trace["processes"][span["processID"]]["serviceName"]
                for span in trace["spans"]
                if _tag(span, "span.kind") == "consumer"
            }
            if found >= SERVICES and consuming >= {"docflow-analysis", "docflow-query"}:
                return trace
        await asyncio.sleep(0.5)
    raise AssertionError(f"trace {trace_id} has spans of {sorted(found)} only")


def _parent_of(span: dict[str, Any]) -> str | None:
    return next((r["spanID"] for r in span["references"] if r["refType"] == "CHILD_OF"), None)


def _tag(span: dict[str, Any], key: str) -> Any:
    return next((t["value"] for t in span["tags"] if t["key"] == key), None)


def _caller() -> tuple[str, str, str]:
    """A trace id, a span id and the `traceparent` of a caller that sampled its trace."""
    trace_id, span_id = secrets.token_hex(16), secrets.token_hex(8)
    return trace_id, span_id, f"00-{trace_id}-{span_id}-01"


def _check_journey(trace: Any, *, trace_id: str, caller_span: str, entry_kind: str) -> None:
    """Ingest's entry span (server, or consumer of an upstream message) continues the caller's
    span; each Kafka hop is a consumer span whose parent is a producer span of the service
    before it."""
    spans = {span["spanID"]: span for span in trace["spans"]}
    service_of = {
        span_id: trace["processes"][span["processID"]]["serviceName"]
        for span_id, span in spans.items()
    }
    assert all(span["traceID"] == trace_id for span in spans.values())

    def spans_of(service: str, kind: str) -> list[dict[str, Any]]:
        return [
            s
            for s in spans.values()
            if service_of[s["spanID"]] == service and _tag(s, "span.kind") == kind
        ]

    [entry] = [s for s in spans_of("docflow-ingest", entry_kind) if _parent_of(s) == caller_span]
    assert entry["traceID"] == trace_id
    for upstream, downstream in (
        ("docflow-ingest", "docflow-analysis"),
        ("docflow-analysis", "docflow-query"),
    ):
        [consumer] = spans_of(downstream, "consumer")
        producer = spans[_parent_of(consumer) or ""]
        assert _tag(producer, "span.kind") == "producer", producer["operationName"]
        assert service_of[producer["spanID"]] == upstream


async def test_a_document_is_one_trace_from_its_post_to_query(traced_stack: Stack) -> None:
    trace_id, caller_span, traceparent = _caller()
    async with httpx.AsyncClient(timeout=10, headers=traced_stack.headers) as client:
        posted = await client.post(
            f"{traced_stack.ingest.url}/v1/documents",
            json={"content": f"A calm note about tracing, number {trace_id}.", "source": "e2e"},
            headers={"traceparent": traceparent},
        )
        assert posted.status_code == 202, posted.text
        await wait_for_status(client, traced_stack.query.url, posted.json()["data"]["id"])
        trace = await _trace(client, trace_id)
    _check_journey(trace, trace_id=trace_id, caller_span=caller_span, entry_kind="server")


async def test_an_upstream_message_continues_its_producers_trace(traced_stack: Stack) -> None:
    trace_id, caller_span, traceparent = _caller()
    message = {"content": f"An upstream note about tracing, number {trace_id}."}
    await produce_raw(
        traced_stack.isolation.topic(Topic.INCOMING),
        [json.dumps(message).encode()],
        headers=[("traceparent", traceparent.encode())],
    )
    async with httpx.AsyncClient(timeout=10) as client:
        trace = await _trace(client, trace_id, timeout_s=60)
    _check_journey(trace, trace_id=trace_id, caller_span=caller_span, entry_kind="consumer")

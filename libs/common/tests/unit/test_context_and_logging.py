import json
import logging

import httpx
import pytest
from fastapi import FastAPI
from opentelemetry.sdk.trace import TracerProvider

from docflow.common.context import (
    accept_request_id,
    bound_request_id,
    current_request_id,
    kafka_headers,
    request_id_from_headers,
    request_id_var,
)
from docflow.common.logging import JsonFormatter
from docflow.common.middleware import RequestContextMiddleware
from docflow.testing import json_log_lines

pytestmark = pytest.mark.unit


def test_a_safe_caller_id_is_kept_and_an_unsafe_one_replaced() -> None:
    assert accept_request_id("abc-123") == "abc-123"
    replaced = accept_request_id("bad id\nwith newline")
    assert replaced != "bad id\nwith newline"
    assert len(replaced) == 32
    assert accept_request_id("x" * 129) != "x" * 129


def test_bound_request_id_restores_the_previous_one() -> None:
    with bound_request_id("outer"):
        with bound_request_id("inner"):
            assert current_request_id() == "inner"
        assert current_request_id() == "outer"


def test_kafka_headers_carry_the_correlation_id() -> None:
    with bound_request_id("req-1"):
        headers = kafka_headers(extra="1")
    assert headers == {"x-request-id": "req-1", "extra": "1"}
    assert request_id_from_headers({"x-request-id": b"req-2"}) == "req-2"
    assert request_id_from_headers({"x-request-id": "req-3"}) == "req-3"
    assert request_id_from_headers({}) is None
    assert request_id_from_headers(None) is None


def test_json_log_lines_carry_service_request_id_and_extras() -> None:
    formatter = JsonFormatter("ingest")
    record = logging.LogRecord("docflow.x", logging.INFO, __file__, 1, "stored %s", ("d1",), None)
    record.document_id = "d1"
    token = request_id_var.set("req-9")
    try:
        line = json.loads(formatter.format(record))
    finally:
        request_id_var.reset(token)
    assert line["message"] == "stored d1"
    assert line["service"] == "ingest"
    assert line["request_id"] == "req-9"
    assert line["document_id"] == "d1"
    assert line["level"] == "INFO"


def test_exceptions_are_logged_with_their_trace() -> None:
    formatter = JsonFormatter("query")
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    line = json.loads(formatter.format(record))
    assert "ValueError: boom" in line["exception"]


def test_lines_outside_a_span_carry_no_trace_ids() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "idle", (), None)
    line = json.loads(JsonFormatter("query").format(record))
    assert "trace_id" not in line
    assert "span_id" not in line


async def test_lines_logged_during_a_request_inside_a_span_join_its_trace() -> None:
    """The current span is read through the API: an SDK provider that is not the global one
    (nothing exported) is enough, as the services' own exporter setup will be."""
    app = FastAPI()

    @app.get("/work")
    async def work() -> dict[str, bool]:
        logging.getLogger("docflow.unit").info("working")
        return {"done": True}

    app.add_middleware(RequestContextMiddleware, service="unit", production_like=False)
    tracer = TracerProvider().get_tracer("unit")
    transport = httpx.ASGITransport(app=app)  # runs the app in this task, so in this context
    with json_log_lines() as lines:
        async with httpx.AsyncClient(transport=transport, base_url="http://unit") as http:
            with tracer.start_as_current_span("request") as span:
                await http.get("/work")
    ours = [line for line in lines if line["logger"] in ("docflow.unit", "docflow.access")]
    assert [line["message"] for line in ours] == ["working", "GET /work 200"]
    context = span.get_span_context()
    for line in ours:
        assert line["trace_id"] == f"{context.trace_id:032x}"
        assert line["span_id"] == f"{context.span_id:016x}"

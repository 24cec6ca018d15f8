"""What the ingest service logs about a request: bodies under LOG_BODIES without the API key or
the document's content, and the trace of the span the request ran in."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace import TracerProvider

from docflow.common.settings import LogBodies
from docflow.ingest.settings import IngestSettings
from docflow.testing import Isolation, json_log_lines

pytestmark = pytest.mark.integration

CONTENT = "Merger talks with Northwind are confidential until the board meets on Friday."
UPLOADED = b"Payroll for March: every salary, line by line, strictly internal."


@pytest.fixture
def log_bodies() -> LogBodies:
    return LogBodies.ALL


@pytest.fixture
def settings(isolation: Isolation, log_bodies: LogBodies) -> IngestSettings:
    return IngestSettings(log_bodies=log_bodies, max_upload_bytes=64 * 1024)


def bodies(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [line for line in lines if line["logger"] == "docflow.bodies"]


async def test_all_logs_bodies_without_the_key_or_the_content(
    client: httpx.AsyncClient, api_key: str
) -> None:
    with json_log_lines("docflow-ingest") as lines:
        posted = await client.post("/v1/documents", json={"content": CONTENT, "title": "Q3"})
        uploaded = await client.post(
            "/v1/documents/upload", files={"file": ("payroll.txt", UPLOADED, "text/plain")}
        )
    assert posted.status_code == 202
    assert uploaded.status_code == 202
    written = repr(lines)
    assert api_key not in written
    assert api_key.split("_", 1)[-1] not in written  # not even the key without its prefix
    assert CONTENT not in written
    assert UPLOADED.decode() not in written
    document, upload = bodies(lines)
    assert document["request"]["headers"]["authorization"] == "[REDACTED]"
    assert '"content":"[REDACTED]"' in document["request"]["body"]
    assert '"title":"Q3"' in document["request"]["body"]
    assert posted.json()["data"]["id"] in document["response"]["body"]
    assert upload["request"]["content_type"] == "multipart/form-data"
    assert upload["request"]["bytes"] > len(UPLOADED)
    assert "body" not in upload["request"]


@pytest.mark.parametrize("log_bodies", [LogBodies.ERRORS])
async def test_errors_logs_the_body_of_a_4xx_only(client: httpx.AsyncClient) -> None:
    with json_log_lines("docflow-ingest") as lines:
        accepted = await client.post("/v1/documents", json={"content": CONTENT})
        refused = await client.post("/v1/documents", json={"title": "no content", "tags": 3})
    assert accepted.status_code == 202
    assert refused.status_code == 422
    [written] = bodies(lines)
    assert written["status"] == 422
    assert '"title":"no content"' in written["request"]["body"]
    assert '"validation_error"' in written["response"]["body"]


@pytest.mark.parametrize("log_bodies", [LogBodies.OFF])
async def test_lines_of_a_request_in_a_span_carry_its_trace(client: httpx.AsyncClient) -> None:
    tracer = TracerProvider().get_tracer("test")
    with json_log_lines("docflow-ingest") as lines, tracer.start_as_current_span("caller") as span:
        response = await client.post("/v1/documents", json={"content": CONTENT})
    request_id = response.headers["x-request-id"]
    of_request = [line for line in lines if line.get("request_id") == request_id]
    [access] = [line for line in of_request if line["logger"] == "docflow.access"]
    assert access["route"] == "/v1/documents"
    assert access["response_bytes"] == len(response.content)
    assert access["user_agent"].startswith("python-httpx/")
    trace_id = f"{span.get_span_context().trace_id:032x}"
    assert {line.get("trace_id") for line in of_request} == {trace_id}

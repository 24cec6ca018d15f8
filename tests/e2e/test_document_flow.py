"""One document through all three services: POST to ingest, read back analyzed from query."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from docflow.common.events import DeadLetterHeader, Topic
from docflow.testing import collect_messages, produce_raw
from services.ingest.tests.files import make_docx, make_pdf
from tests.e2e.conftest import Stack
from tests.e2e.helpers import wait_for_status

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

DOCUMENT = {
    "title": "Quarterly <b>report</b>",
    "content": "Acme reported record revenue and strong growth this quarter. "
    "The board praised the excellent results and raised the dividend.",
    "source": "e2e",
}


async def test_a_posted_document_comes_back_analyzed(local_stack: Stack) -> None:
    async with httpx.AsyncClient(timeout=10, headers=local_stack.headers) as client:
        posted = await client.post(
            f"{local_stack.ingest.url}/v1/documents",
            json=DOCUMENT,
            headers={"X-Request-ID": "e2e-local-1"},
        )
        assert posted.status_code == 202, posted.text
        assert posted.headers["x-request-id"] == "e2e-local-1"
        created = posted.json()["data"]
        assert created["status"] == "queued"

        document = await wait_for_status(client, local_stack.query.url, created["id"])

    assert document["title"] == "Quarterly report"  # markup stripped on the way in
    analysis = document["analysis"]
    assert analysis["summary"]
    assert analysis["keywords"]
    assert analysis["language"] == "en"
    assert analysis["sentiment"]["label"] == "positive"
    assert analysis["provider"] == "local"
    # The correlation id travelled through Kafka into the analysis service's log lines.
    assert "e2e-local-1" in local_stack.analysis.log_path.read_text()


async def test_the_same_content_twice_is_stored_and_analyzed_once(local_stack: Stack) -> None:
    body = {**DOCUMENT, "content": DOCUMENT["content"] + " Duplicate check."}
    async with httpx.AsyncClient(timeout=10, headers=local_stack.headers) as client:
        first = await client.post(f"{local_stack.ingest.url}/v1/documents", json=body)
        second = await client.post(f"{local_stack.ingest.url}/v1/documents", json=body)
    assert first.status_code == 202
    assert second.status_code == 200
    assert second.json()["data"]["duplicate"] is True
    assert second.json()["data"]["id"] == first.json()["data"]["id"]


def _docx_bytes(text: str) -> bytes:
    return make_docx([text])


def _pdf_bytes(text: str) -> bytes:
    return make_pdf([text])


@pytest.mark.parametrize(
    ("filename", "content_type", "make"),
    [
        ("minutes.pdf", "application/pdf", _pdf_bytes),
        (
            "minutes.docx",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            _docx_bytes,
        ),
    ],
)
async def test_uploaded_pdf_and_docx_come_back_analyzed(
    local_stack: Stack, filename: str, content_type: str, make: object
) -> None:
    text = f"The {filename} meeting approved a wonderful new budget for the Berlin office."
    assert callable(make)
    payload = make(text)
    async with httpx.AsyncClient(timeout=30, headers=local_stack.headers) as client:
        posted = await client.post(
            f"{local_stack.ingest.url}/v1/documents/upload",
            files={"file": (filename, payload, content_type)},
            data={"title": f"Upload {filename}"},
        )
        assert posted.status_code == 202, posted.text
        document = await wait_for_status(client, local_stack.query.url, posted.json()["data"]["id"])
    assert document["analysis"]["summary"]
    assert document["title"] == f"Upload {filename}"


async def test_upstream_kafka_messages_are_analyzed_or_dead_lettered(local_stack: Stack) -> None:
    """50 valid and 5 malformed messages from an ordinary Kafka client."""
    isolation = local_stack.isolation
    valid = [
        json.dumps(
            {
                "content": f"Upstream ticket {i}: the customer is happy with the quick fix.",
                "external_id": f"up-{i}",
                "source": "upstream",
            }
        ).encode()
        for i in range(50)
    ]
    malformed = [
        b"{not json",
        b'{"title": "no content"}',
        b'{"content": ""}',
        b"\xff\xfe invalid utf-8",
        b'{"content": "'
        + b"x" * 1_000_001,  # one over the default 1,000,000-character limit + b'"}',
    ]
    await produce_raw(isolation.topic(Topic.INCOMING), [*valid, *malformed])

    dead_letters = await collect_messages(isolation.topic(Topic.DLQ), count=5, timeout_s=60)
    assert len(dead_letters) == 5
    for record in dead_letters:
        headers = {key: value.decode() for key, value in record.headers}
        assert headers[DeadLetterHeader.SOURCE_TOPIC] == isolation.topic(Topic.INCOMING)
        assert headers[DeadLetterHeader.ERROR_TYPE]
        assert headers[DeadLetterHeader.ERROR_MESSAGE]
        assert DeadLetterHeader.SOURCE_OFFSET in headers
    assert {record.value for record in dead_letters} == set(malformed)

    async with httpx.AsyncClient(timeout=10, headers=local_stack.headers) as client:
        analyzed: dict[str, dict[str, object]] = {}
        for _ in range(300):
            page = await client.get(
                f"{local_stack.query.url}/v1/documents",
                params={"source": "upstream", "status": "analyzed", "limit": 100},
            )
            assert page.status_code == 200, page.text
            analyzed = {item["id"]: item for item in page.json()["data"]["items"]}
            if len(analyzed) >= 50:
                break
            await asyncio.sleep(0.2)
    assert len(analyzed) == 50

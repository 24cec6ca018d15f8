"""POST /v1/documents and /v1/documents/batch on the real stack."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from docflow.common.events import Topic
from docflow.ingest.documents import lane
from docflow.ingest.settings import IngestSettings

pytestmark = pytest.mark.integration


async def test_a_document_is_stored_sanitized_then_published(
    client: httpx.AsyncClient,
    documents: Any,
    ingested_events: Any,
    payload_of: Any,
    settled: Any,
) -> None:
    response = await client.post(
        "/v1/documents",
        json={"title": "Q3", "content": "Acme grew.", "metadata": {"team": "sales"}},
        headers={"X-Request-ID": "req-123"},
    )
    assert response.status_code == 202
    data = response.json()["data"]
    assert data["status"] == "queued"
    assert data["duplicate"] is False
    assert response.headers["x-request-id"] == "req-123"

    stored = await documents.find_one({"_id": data["id"]})
    assert stored["tenant_id"] == "default"
    assert stored["content"] == "Acme grew."
    assert stored["content_hash"] == hashlib.sha256(b"Acme grew.").hexdigest()
    assert stored["origin"] == "api"
    assert await settled(), "the outbox entry is removed once the event is out"
    assert stored["metadata"] == {"team": "sales"}

    events = await ingested_events(count=1)
    assert len(events) == 1
    assert events[0].key == data["id"].encode()
    assert payload_of(events[0])["document_id"] == data["id"]
    assert dict(events[0].headers)["x-request-id"] == b"req-123"


async def test_script_tags_in_the_title_never_reach_the_store(
    client: httpx.AsyncClient, documents: Any
) -> None:
    response = await client.post(
        "/v1/documents",
        json={
            "title": "<script>alert('x')</script>Report<img src=x onerror=alert(1)>",
            "content": "c",
        },
    )
    assert response.status_code == 202
    stored = await documents.find_one({"_id": response.json()["data"]["id"]})
    assert stored["title"] == "Report"


async def test_a_nul_byte_is_stripped_from_every_text_field(
    client: httpx.AsyncClient, documents: Any
) -> None:
    response = await client.post(
        "/v1/documents",
        json={
            "title": "a\u0000b",
            "content": "x\u0000y",
            "source": "s\u0000",
            "metadata": {"k": "v\u0000"},
        },
    )
    assert response.status_code == 202
    stored = await documents.find_one({"_id": response.json()["data"]["id"]})
    assert (stored["title"], stored["content"], stored["source"]) == ("ab", "xy", "s")
    assert stored["metadata"] == {"k": "v"}


async def test_content_of_only_control_characters_is_refused(
    client: httpx.AsyncClient, assert_nothing_stored: Any, code_of: Any
) -> None:
    response = await client.post("/v1/documents", json={"content": "\u0000\u0007 \u001b"})
    assert response.status_code == 422
    assert code_of(response) == "empty_content"
    await assert_nothing_stored()


async def test_content_over_the_limit_is_refused(
    client: httpx.AsyncClient, settings: IngestSettings, assert_nothing_stored: Any, code_of: Any
) -> None:
    response = await client.post(
        "/v1/documents", json={"content": "x" * (settings.max_content_chars + 1)}
    )
    assert response.status_code == 413
    assert code_of(response) == "content_too_large"
    await assert_nothing_stored()


async def test_a_body_over_the_json_cap_is_refused_before_parsing(
    client: httpx.AsyncClient, settings: IngestSettings, assert_nothing_stored: Any, code_of: Any
) -> None:
    body = b'{"content": "' + b"x" * settings.max_json_body_bytes + b'"}'
    response = await client.post(
        "/v1/documents", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert code_of(response) == "body_too_large"
    await assert_nothing_stored()


async def test_a_chunked_body_over_the_cap_is_cut_off_while_reading(
    client: httpx.AsyncClient, settings: IngestSettings, code_of: Any
) -> None:
    sent = 0

    async def chunks() -> Any:
        nonlocal sent
        yield b'{"content": "'
        for _ in range(100):  # up to 100 x 16 KiB, far beyond the 64 KiB cap
            sent += 1
            yield b"x" * 16 * 1024
        yield b'"}'

    response = await client.post(
        "/v1/documents", content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert code_of(response) == "body_too_large"
    assert sent < 10  # refused as soon as the cap passed, not after reading everything


async def test_metadata_keys_mongodb_cannot_store_are_refused(
    client: httpx.AsyncClient, assert_nothing_stored: Any, code_of: Any
) -> None:
    for key in ("a.b", "$set"):
        response = await client.post("/v1/documents", json={"content": "c", "metadata": {key: 1}})
        assert response.status_code == 422
        assert code_of(response) == "invalid_metadata_key"
    await assert_nothing_stored()


async def test_malformed_json_is_a_400(
    client: httpx.AsyncClient, assert_nothing_stored: Any, code_of: Any
) -> None:
    response = await client.post(
        "/v1/documents", content=b'{"content": ', headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert code_of(response) == "invalid_json"
    await assert_nothing_stored()


async def test_schema_failures_are_a_422_in_the_envelope(
    client: httpx.AsyncClient, code_of: Any
) -> None:
    response = await client.post("/v1/documents", json={"title": "no content", "extra": 1})
    assert response.status_code == 422
    assert code_of(response) == "validation_error"


async def test_the_same_content_is_stored_once_and_published_once(
    client: httpx.AsyncClient, documents: Any, ingested_events: Any
) -> None:
    first = await client.post("/v1/documents", json={"content": "Same text.", "title": "a"})
    # Different markup, same sanitized text: the same document.
    second = await client.post("/v1/documents", json={"content": "<b>Same</b> text."})
    assert first.status_code == 202
    assert second.status_code == 200
    assert second.json()["data"] == {
        "id": first.json()["data"]["id"],
        "status": "queued",
        "duplicate": True,
    }
    assert await documents.count_documents({}) == 1
    assert len(await ingested_events(count=2, timeout_s=3.0)) == 1
    # Another tenant's same content is its own document: test_tenancy.py.


async def test_an_idempotency_key_replays_the_first_response(
    client: httpx.AsyncClient, documents: Any, code_of: Any
) -> None:
    headers = {"Idempotency-Key": "order-42"}
    first = await client.post("/v1/documents", json={"content": "Once."}, headers=headers)
    replay = await client.post("/v1/documents", json={"content": "Once."}, headers=headers)
    assert first.status_code == replay.status_code == 202
    assert replay.json()["data"] == first.json()["data"]
    assert replay.headers["idempotency-replayed"] == "true"
    assert await documents.count_documents({}) == 1

    reused = await client.post("/v1/documents", json={"content": "Other."}, headers=headers)
    assert reused.status_code == 422
    assert code_of(reused) == "idempotency_key_reused"
    assert await documents.count_documents({}) == 1


async def test_concurrent_requests_with_one_key_insert_once(
    client: httpx.AsyncClient, documents: Any
) -> None:
    headers = {"Idempotency-Key": "burst"}
    responses = await asyncio.gather(
        *(
            client.post("/v1/documents", json={"content": "Burst."}, headers=headers)
            for _ in range(5)
        )
    )
    statuses = sorted(response.status_code for response in responses)
    assert 202 in statuses
    assert set(statuses) <= {202, 409}
    assert await documents.count_documents({}) == 1


async def test_a_batch_with_one_bad_item_stores_the_others(
    client: httpx.AsyncClient, documents: Any, ingested_events: Any
) -> None:
    response = await client.post(
        "/v1/documents/batch",
        json={
            "documents": [
                {"content": "First."},
                {"content": "<script>x</script>"},
                {"title": "missing content"},
                {"content": "Fourth.", "metadata": {"a.b": 1}},
                {"content": "Fifth."},
            ]
        },
    )
    assert response.status_code == 202
    data = response.json()["data"]
    assert (data["accepted"], data["rejected"]) == (2, 3)
    items = data["items"]
    assert [item["index"] for item in items] == [0, 1, 2, 3, 4]
    assert [item["success"] for item in items] == [True, False, False, False, True]
    assert items[1]["error"]["code"] == "empty_content"
    assert items[2]["error"]["code"] == "validation_error"
    assert items[3]["error"]["code"] == "invalid_metadata_key"
    assert await documents.count_documents({}) == 2
    events = await ingested_events(count=3, timeout_s=4.0)
    assert sorted(record.key.decode() for record in events) == sorted(
        [items[0]["id"], items[4]["id"]]
    )


async def test_a_batch_over_the_item_limit_is_refused(
    client: httpx.AsyncClient, settings: IngestSettings, assert_nothing_stored: Any, code_of: Any
) -> None:
    items = [{"content": f"doc {i}"} for i in range(settings.max_batch_items + 1)]
    response = await client.post("/v1/documents/batch", json={"documents": items})
    assert response.status_code == 422
    assert code_of(response) == "batch_too_large"
    await assert_nothing_stored()


async def test_openapi_declares_examples_and_error_responses(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    post = spec["paths"]["/v1/documents"]["post"]
    assert {"200", "202", "400", "413", "422", "429", "503"} <= set(post["responses"])
    assert post["requestBody"]["content"]["application/json"]["examples"]
    upload = spec["paths"]["/v1/documents/upload"]["post"]
    assert {"413", "415", "422"} <= set(upload["responses"])
    assert "multipart/form-data" in upload["requestBody"]["content"]


async def test_asyncapi_describes_all_four_topics(
    client: httpx.AsyncClient, settings: IngestSettings
) -> None:
    document = (await client.get("/asyncapi.json")).json()
    assert document["asyncapi"].startswith("3.")
    addresses = {channel["address"] for channel in document["channels"].values()}
    assert addresses == {settings.topic(topic) for topic in Topic}
    page = await client.get("/asyncapi", follow_redirects=True)
    assert page.status_code == 200
    assert "AsyncApiStandalone" in page.text


async def test_the_lane_and_the_route_answer_alike(
    app: FastAPI, client: httpx.AsyncClient, settings: IngestSettings
) -> None:
    """Without an Idempotency-Key the lane answers; with a fresh one, the FastAPI route."""
    assert any(middleware.kwargs.get("answer") is lane.answer for middleware in app.user_middleware)
    keys = (f"parity-{number}" for number in itertools.count())

    async def both(
        lane_body: bytes, route_body: bytes | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        json_type = {"content-type": "application/json"}
        from_lane = await client.post("/v1/documents", content=lane_body, headers=json_type)
        from_route = await client.post(
            "/v1/documents",
            content=lane_body if route_body is None else route_body,
            headers={**json_type, "Idempotency-Key": next(keys)},
        )
        return _comparable(from_lane), _comparable(from_route)

    cases = [
        (b'{"content": "Parity via the lane."}', b'{"content": "Parity via the route."}'),
        (b'{"content": "Parity via the route."}', b'{"content": "Parity via the lane."}'),
        (b'{"content": ', None),
        (b"[]", None),
        (b'{"title": "no content", "extra": 1}', None),
        (b'{"content": "\\u0000"}', None),
        (b'{"content": "c", "metadata": {"a.b": 1}}', None),
        (b'{"content": "' + b"x" * (settings.max_content_chars + 1) + b'"}', None),
        (b'{"content": "' + b"x" * settings.max_json_body_bytes + b'"}', None),
    ]
    statuses = []
    for lane_body, route_body in cases:
        from_lane, from_route = await both(lane_body, route_body)
        assert from_lane == from_route
        statuses.append(from_lane["status"])
    assert statuses == [202, 200, 400, 422, 422, 422, 422, 413, 413]


def _comparable(response: httpx.Response) -> dict[str, Any]:
    """What must not differ between the two paths: all but the request and document ids."""
    body = response.json()
    assert body["meta"].pop("request_id") == response.headers["x-request-id"]
    if body["data"] is not None:
        body["data"]["id"] = "<id>"
    headers = {
        name: response.headers.get(name)
        for name in ("content-type", "x-content-type-options", "idempotency-replayed")
    }
    return {"status": response.status_code, "headers": headers, "body": body}


async def test_a_body_of_many_unknown_fields_is_refused_naming_only_the_first(
    client: httpx.AsyncClient, code_of: Any, assert_nothing_stored: Any
) -> None:
    # 4,000 fields fit in the test's 64 KiB body limit; the default limit holds 250,000, whose
    # one-error-per-field answer held the event loop for seconds.
    body = {"content": "text", **{f"x{i:05}": 1 for i in range(4_000)}}
    response = await client.post("/v1/documents", json=body)
    assert response.status_code == 422
    assert code_of(response) == "validation_error"
    details = response.json()["error"]["details"]
    assert [d["loc"] for d in details[:5]] == [["body", f"x{i:05}"] for i in range(5)]
    assert details[5]["msg"] == "4000 unknown fields; the first 5 are listed"
    assert len(details) == 6
    await assert_nothing_stored()


async def test_too_many_metadata_keys_are_refused_before_validation(
    client: httpx.AsyncClient, code_of: Any
) -> None:
    body = {"content": "text", "metadata": {f"k{i}": i for i in range(3_000)}}
    single = await client.post("/v1/documents", json=body)
    assert single.status_code == 422
    assert code_of(single) == "metadata_too_large"
    unknown = {"content": "text", **{f"x{i}": 1 for i in range(1_000)}}
    batch = await client.post("/v1/documents/batch", json={"documents": [body, unknown]})
    items = batch.json()["data"]["items"]
    assert [item["error"]["code"] for item in items] == ["metadata_too_large", "validation_error"]
    assert len(items[1]["error"]["details"]) == 6

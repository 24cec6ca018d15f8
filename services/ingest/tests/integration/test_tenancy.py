"""The API key decides the tenant on every REST path; upstream producers name their own."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import orjson
import pytest

from docflow.common.events import DeadLetterHeader, Topic
from docflow.testing import Isolation, collect_messages, produce_raw
from services.ingest.tests.integration.replies import ClientFor

pytestmark = pytest.mark.integration

UPLOAD = "/v1/documents/upload"


def upload_form(text: bytes, **fields: str) -> dict[str, Any]:
    return {"files": {"file": ("note.txt", text, "text/plain")}, "data": fields}


async def test_another_tenants_same_content_is_a_new_document_of_its_own(
    client: httpx.AsyncClient, client_for: ClientFor, documents: Any
) -> None:
    acme = await client_for("acme")
    first = await client.post("/v1/documents", json={"content": "Shared wording."})
    other = await acme.post("/v1/documents", json={"content": "Shared wording."})
    again = await acme.post("/v1/documents", json={"content": "Shared wording."})

    assert (first.status_code, other.status_code, again.status_code) == (202, 202, 200)
    assert other.json()["data"]["duplicate"] is False, "not default's document, nor its id"
    assert other.json()["data"]["id"] != first.json()["data"]["id"]
    assert again.json()["data"]["id"] == other.json()["data"]["id"]
    stored = {doc["_id"]: doc["tenant_id"] async for doc in documents.find({})}
    assert stored == {first.json()["data"]["id"]: "default", other.json()["data"]["id"]: "acme"}


@pytest.mark.parametrize("idempotency", [False, True], ids=["lane", "route"])
async def test_the_stored_tenant_is_the_keys_with_or_without_the_same_body_tenant(
    client_for: ClientFor, documents: Any, idempotency: bool
) -> None:
    acme = await client_for("acme")
    headers = {"Idempotency-Key": "k1"} if idempotency else {}
    silent = await acme.post("/v1/documents", json={"content": "One."}, headers=headers)
    headers = {"Idempotency-Key": "k2"} if idempotency else {}
    explicit = await acme.post(
        "/v1/documents", json={"content": "Two.", "tenant_id": "acme"}, headers=headers
    )

    assert silent.status_code == explicit.status_code == 202
    assert {doc["tenant_id"] async for doc in documents.find({})} == {"acme"}


@pytest.mark.parametrize("idempotency", [False, True], ids=["lane", "route"])
async def test_a_body_naming_another_tenant_is_refused_and_nothing_stored(
    client_for: ClientFor, code_of: Any, assert_nothing_stored: Any, idempotency: bool
) -> None:
    acme = await client_for("acme")
    headers = {"Idempotency-Key": "k1"} if idempotency else {}
    response = await acme.post(
        "/v1/documents", json={"content": "Elsewhere.", "tenant_id": "default"}, headers=headers
    )

    assert response.status_code == 403
    assert code_of(response) == "tenant_mismatch"
    assert response.json()["error"]["details"] == {"tenant_id": "default"}
    await assert_nothing_stored()


async def test_a_batch_item_naming_another_tenant_fails_alone(
    client_for: ClientFor, documents: Any
) -> None:
    acme = await client_for("acme")
    response = await acme.post(
        "/v1/documents/batch",
        json={
            "documents": [
                {"content": "Kept.", "tenant_id": "acme"},
                {"content": "Refused.", "tenant_id": "globex"},
                {"content": "Also kept."},
            ]
        },
    )

    assert response.status_code == 202
    data = response.json()["data"]
    assert (data["accepted"], data["rejected"]) == (2, 1)
    refused = data["items"][1]["error"]
    assert (refused["code"], refused["status"]) == ("tenant_mismatch", 403)
    assert {doc["tenant_id"] async for doc in documents.find({})} == {"acme"}
    assert await documents.count_documents({}) == 2


async def test_an_upload_is_stored_under_the_keys_tenant_and_a_form_tenant_must_match(
    client_for: ClientFor, documents: Any, code_of: Any
) -> None:
    acme = await client_for("acme")
    stored = await acme.post(UPLOAD, **upload_form(b"Uploaded by acme."))
    refused = await acme.post(UPLOAD, **upload_form(b"Not for globex.", tenant_id="globex"))

    assert stored.status_code == 202
    assert refused.status_code == 403
    assert code_of(refused) == "tenant_mismatch"
    assert [doc["tenant_id"] async for doc in documents.find({})] == ["acme"]


@pytest.mark.parametrize("path", ["/v1/documents", "/v1/documents/batch", UPLOAD])
async def test_one_idempotency_key_used_by_two_tenants_never_replays_across(
    client: httpx.AsyncClient, client_for: ClientFor, documents: Any, path: str
) -> None:
    acme = await client_for("acme")
    headers = {"Idempotency-Key": "order-1"}

    def request(text: str) -> dict[str, Any]:
        if path == UPLOAD:
            return upload_form(text.encode())
        document = {"content": text}
        return {"json": {"documents": [document]} if path.endswith("batch") else document}

    mine = await client.post(path, headers=headers, **request("Default's text."))
    theirs = await acme.post(path, headers=headers, **request("Acme's text."))

    assert mine.status_code == theirs.status_code == 202
    assert "idempotency-replayed" not in theirs.headers
    assert theirs.json()["data"] != mine.json()["data"]
    tenants = sorted([doc["tenant_id"] async for doc in documents.find({})])
    assert tenants == ["acme", "default"]


async def test_upstream_tenants_stand_and_a_malformed_one_is_dead_lettered(
    app: Any, isolation: Isolation, documents: Any
) -> None:
    bad = orjson.dumps({"content": "From a confused producer.", "tenant_id": "Acme Corp"})
    good = orjson.dumps({"content": "From the ERP.", "tenant_id": "acme"})
    plain = orjson.dumps({"content": "From a producer naming no tenant."})
    await produce_raw(isolation.topic(Topic.INCOMING), [bad, good, plain])

    letters = await collect_messages(isolation.topic(Topic.DLQ), count=1, timeout_s=30)
    assert [letter.value for letter in letters] == [bad]
    headers = {name: value.decode() for name, value in letters[0].headers}
    assert headers[DeadLetterHeader.ERROR_TYPE] == "invalid_tenant"
    assert "'Acme Corp' is not a tenant name" in headers[DeadLetterHeader.ERROR_MESSAGE]

    for _ in range(300):  # the dead letter may be out before the documents are stored
        if await documents.count_documents({}) == 2:
            break
        await asyncio.sleep(0.1)
    stored = {doc["content"]: doc["tenant_id"] async for doc in documents.find({})}
    assert stored == {"From the ERP.": "acme", "From a producer naming no tenant.": "default"}

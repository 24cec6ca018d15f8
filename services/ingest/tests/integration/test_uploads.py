"""POST /v1/documents/upload on the real stack: each file class and each refusal."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from docflow.ingest.settings import IngestSettings
from docflow.ingest.uploads.detection import DOCX_MIME
from docflow.testing import api_key_for, bearer

pytestmark = pytest.mark.integration

UPLOAD = "/v1/documents/upload"


async def upload(
    client: httpx.AsyncClient,
    name: str,
    data: bytes,
    mime: str,
    fields: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    return await client.post(
        UPLOAD, files={"file": (name, data, mime)}, data=fields or {}, headers=headers
    )


async def test_a_pdf_is_extracted_stored_and_published(
    client: httpx.AsyncClient, documents: Any, ingested_events: Any, files: Any, settled: Any
) -> None:
    pdf = files.pdf(["Acme revenue grew strongly.", "Second page."])
    response = await upload(client, "report.pdf", pdf, "application/pdf", {"source": "upload-test"})
    assert response.status_code == 202, response.text
    stored = await documents.find_one({"_id": response.json()["data"]["id"]})
    assert "Acme revenue grew strongly." in stored["content"]
    assert stored["origin"] == "upload"
    assert stored["title"] == "report"
    assert stored["source"] == "upload-test"
    assert stored["metadata"]["pages"] == 2
    assert stored["metadata"]["file_type"] == "application/pdf"
    assert await settled()
    assert len(await ingested_events(count=1)) == 1


async def test_a_docx_is_extracted_and_stored(
    client: httpx.AsyncClient, documents: Any, files: Any
) -> None:
    docx = files.docx(["Quarterly review", "Costs fell."])
    response = await upload(client, "review.docx", docx, DOCX_MIME, {"title": "<b>Review</b>"})
    assert response.status_code == 202, response.text
    stored = await documents.find_one({"_id": response.json()["data"]["id"]})
    assert stored["content"] == "Quarterly review\nCosts fell."
    assert stored["title"] == "Review"


async def test_html_and_markdown_uploads_are_text(
    client: httpx.AsyncClient, documents: Any
) -> None:
    html = b"<html><body><h1>News</h1><script>steal()</script><p>Shipped.</p></body></html>"
    response = await upload(client, "news.html", html, "text/html")
    assert response.status_code == 202
    stored = await documents.find_one({"_id": response.json()["data"]["id"]})
    assert "steal" not in stored["content"]
    assert stored["content"].split() == ["News", "Shipped."]

    markdown = await upload(client, "notes.md", b"# Notes\n\n* item", "text/markdown")
    stored = await documents.find_one({"_id": markdown.json()["data"]["id"]})
    assert stored["content_type"] == "text/markdown"


async def test_an_oversized_upload_is_refused(
    client: httpx.AsyncClient,
    settings: IngestSettings,
    assert_nothing_stored: Any,
    code_of: Any,
) -> None:
    data = b"a" * (settings.max_upload_bytes + 1)
    response = await upload(client, "big.txt", data, "text/plain")
    assert response.status_code == 413
    assert code_of(response) == "upload_too_large"
    await assert_nothing_stored()


async def test_an_oversized_upload_is_cut_off_while_streaming(
    client: httpx.AsyncClient, settings: IngestSettings, code_of: Any
) -> None:
    sent = 0
    boundary = "bound"

    async def body() -> Any:
        nonlocal sent
        yield (
            f"--{boundary}\r\nContent-Disposition: form-data; name=file; filename=big.txt\r\n"
            "Content-Type: text/plain\r\n\r\n"
        ).encode()
        for _ in range(200):  # 200 x 16 KiB, far beyond the 64 KiB limit
            sent += 1
            yield b"a" * 16 * 1024
        yield f"\r\n--{boundary}--\r\n".encode()

    response = await client.post(
        UPLOAD,
        content=body(),
        headers={"content-type": f"multipart/form-data; boundary={boundary}"},
    )
    assert response.status_code == 413
    assert code_of(response) == "upload_too_large"
    assert sent < 10


async def test_bytes_that_are_not_a_pdf_named_pdf_are_refused(
    client: httpx.AsyncClient, assert_nothing_stored: Any, code_of: Any, files: Any
) -> None:
    response = await upload(client, "fake.pdf", b"just some text", "application/pdf")
    assert response.status_code == 415
    assert code_of(response) == "type_mismatch"
    docx_as_pdf = await upload(client, "doc.pdf", files.docx(["x"]), "application/pdf")
    assert docx_as_pdf.status_code == 415
    assert code_of(docx_as_pdf) == "type_mismatch"
    await assert_nothing_stored()


async def test_a_png_named_pdf_is_refused(
    client: httpx.AsyncClient, assert_nothing_stored: Any, code_of: Any, files: Any
) -> None:
    response = await upload(client, "photo.pdf", files.png, "application/pdf")
    assert response.status_code == 415
    assert code_of(response) == "type_mismatch"
    assert response.json()["error"]["details"]["detected"] == "image/png"
    await assert_nothing_stored()


async def test_an_unsupported_type_is_refused(
    client: httpx.AsyncClient, assert_nothing_stored: Any, code_of: Any, files: Any
) -> None:
    response = await upload(client, "photo.png", files.png, "image/png")
    assert response.status_code == 415
    assert code_of(response) == "unsupported_type"
    await assert_nothing_stored()


async def test_an_encrypted_pdf_is_refused(
    client: httpx.AsyncClient, assert_nothing_stored: Any, code_of: Any, files: Any
) -> None:
    locked = files.encrypted_pdf(files.pdf(["Top secret."]))
    response = await upload(client, "locked.pdf", locked, "application/pdf")
    assert response.status_code == 422
    assert code_of(response) == "encrypted_document"
    await assert_nothing_stored()


async def test_a_corrupt_docx_is_refused(
    client: httpx.AsyncClient, assert_nothing_stored: Any, code_of: Any, files: Any
) -> None:
    data = files.docx(["Some text"])
    response = await upload(client, "broken.docx", data[: len(data) // 2], DOCX_MIME)
    assert response.status_code == 422
    assert code_of(response) == "corrupt_document"
    await assert_nothing_stored()


async def test_files_without_text_are_refused(
    client: httpx.AsyncClient, assert_nothing_stored: Any, code_of: Any, files: Any
) -> None:
    blank_pdf = await upload(client, "blank.pdf", files.pdf([""]), "application/pdf")
    assert blank_pdf.status_code == 422
    assert code_of(blank_pdf) == "empty_document"
    empty_file = await upload(client, "empty.txt", b"", "text/plain")
    assert empty_file.status_code == 422
    assert code_of(empty_file) == "empty_document"
    only_markup = await upload(client, "x.html", b"<script>a()</script>", "text/html")
    assert code_of(only_markup) == "empty_document"
    await assert_nothing_stored()


async def test_invalid_utf8_text_is_refused(
    client: httpx.AsyncClient, assert_nothing_stored: Any, code_of: Any
) -> None:
    response = await upload(client, "latin1.txt", "café crème".encode("latin-1"), "text/plain")
    assert response.status_code == 422
    assert code_of(response) == "invalid_utf8"
    await assert_nothing_stored()


async def test_a_request_without_a_file_is_refused(client: httpx.AsyncClient, code_of: Any) -> None:
    response = await client.post(UPLOAD, data={"title": "no file"}, files={"other": ("a", b"x")})
    assert response.status_code == 422
    assert code_of(response) == "missing_file"
    not_multipart = await client.post(UPLOAD, json={"content": "x"})
    assert not_multipart.status_code == 415


async def test_an_upload_retried_with_its_idempotency_key_is_replayed(
    client: httpx.AsyncClient, documents: Any
) -> None:
    headers = {"Idempotency-Key": "upload-1"}
    first = await upload(client, "a.txt", b"Uploaded once.", "text/plain", headers=headers)
    # httpx picks a new multipart boundary each time: the fingerprint must not depend on it.
    again = await upload(client, "a.txt", b"Uploaded once.", "text/plain", headers=headers)
    assert first.status_code == again.status_code == 202
    assert again.json()["data"] == first.json()["data"]
    assert again.headers["idempotency-replayed"] == "true"
    assert await documents.count_documents({}) == 1


async def test_uploads_have_their_own_tighter_rate_limit(isolation: Any, code_of: Any) -> None:
    from asgi_lifespan import LifespanManager

    from docflow.ingest.main import create_app

    settings = IngestSettings(rate_limit_upload="2/minute")
    app = create_app(settings)
    async with LifespanManager(app, startup_timeout=60, shutdown_timeout=60):
        transport = httpx.ASGITransport(app=app)
        headers = bearer(await api_key_for(settings))
        async with httpx.AsyncClient(
            transport=transport, base_url="http://test", headers=headers
        ) as client:
            statuses = [
                (await upload(client, f"n{i}.txt", f"note {i}".encode(), "text/plain")).status_code
                for i in range(3)
            ]
            assert statuses[:2] == [202, 202]
            assert statuses[2] == 429
            limited = await upload(client, "n9.txt", b"note 9", "text/plain")
            assert code_of(limited) == "rate_limited"
            assert int(limited.headers["retry-after"]) >= 1
            # JSON documents are not held back by the upload limit.
            assert (await client.post("/v1/documents", json={"content": "x"})).status_code == 202

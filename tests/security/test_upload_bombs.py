"""A DOCX that inflates or parses into gigabytes costs ingest a clear 4xx, and the extraction
workers go on serving the next upload."""

from __future__ import annotations

import base64
import io
import os
import zipfile

import docx
import httpx
import pytest

from docflow.ingest.uploads.detection import DOCX_MIME
from docflow.testing import ServiceProcess

pytestmark = [pytest.mark.integration, pytest.mark.slow]

UPLOAD = "/v1/documents/upload"


def _docx(body: bytes) -> bytes:
    """A real DOCX (python-docx's own template) whose document body is `body`."""
    template = io.BytesIO()
    docx.Document().save(template)
    source = zipfile.ZipFile(template)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for info in source.infolist():
            data = source.read(info.filename)
            if info.filename == "word/document.xml":
                start, end = data.index(b"<w:body>") + len(b"<w:body>"), data.index(b"</w:body>")
                data = data[:start] + body + data[end:]
            archive.writestr(info.filename, data)
    return out.getvalue()


def _ordinary_docx() -> bytes:
    document = docx.Document()
    document.add_paragraph(f"An ordinary report {os.urandom(8).hex()}")
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


async def _upload(client: httpx.AsyncClient, url: str, data: bytes) -> httpx.Response:
    files = {"file": ("report.docx", data, DOCX_MIME)}
    return await client.post(f"{url}{UPLOAD}", files=files)


async def _next_upload_is_served(client: httpx.AsyncClient, url: str) -> None:
    response = await _upload(client, url, _ordinary_docx())
    assert response.status_code == 202, response.text


async def test_a_zip_bomb_is_refused_and_the_workers_serve_the_next_upload(
    ingest_service: ServiceProcess, client: httpx.AsyncClient
) -> None:
    bomb = _docx(b"<w:p/>" * (95 * 1024 * 1024 // 6))  # 95 MiB of empty paragraphs
    assert len(bomb) < 256 * 1024

    response = await _upload(client, ingest_service.url, bomb)

    assert response.status_code == 413, response.text
    assert response.json()["error"]["code"] == "archive_too_large"
    await _next_upload_is_served(client, ingest_service.url)


async def test_a_parse_past_the_memory_limit_is_a_422_and_the_pool_recovers(
    ingest_service: ServiceProcess, client: httpx.AsyncClient
) -> None:
    # Within every zip cap (12 MB of XML, compressed about 60:1 thanks to the random text) but
    # two million paragraph elements: far more memory than the workers' limit.
    noise = base64.b64encode(os.urandom(150_000))
    heavy = _docx(b"<w:p><w:r><w:t>" + noise + b"</w:t></w:r></w:p>" + b"<w:p/>" * 2_000_000)

    response = await _upload(client, ingest_service.url, heavy)

    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "document_too_complex"
    await _next_upload_is_served(client, ingest_service.url)

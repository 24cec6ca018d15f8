from __future__ import annotations

import asyncio
from typing import Any

import pytest

from docflow.common.errors import DocflowError
from docflow.ingest.settings import IngestSettings
from docflow.ingest.uploads.detection import FileKind
from docflow.ingest.uploads.extraction import Extractor, Limits, extract
from docflow.ingest.uploads.failures import ExtractionFailed

pytestmark = pytest.mark.unit

LIMITS = Limits.of(IngestSettings(pdf_max_pages=3, max_unzipped_bytes=10 * 1024 * 1024))


def failure(kind: FileKind, data: bytes, limits: Limits = LIMITS) -> str:
    with pytest.raises(ExtractionFailed) as caught:
        extract(kind, data, limits)
    return caught.value.code


def test_pdf_text_and_page_count(files: Any) -> None:
    extracted = extract(FileKind.PDF, files.pdf(["First page text", "Second page"]), LIMITS)
    assert "First page text" in extracted.text
    assert "Second page" in extracted.text
    assert extracted.pages == 2


def test_encrypted_pdf_is_refused(files: Any) -> None:
    assert failure(FileKind.PDF, files.encrypted_pdf(files.pdf(["secret"]))) == "encrypted_document"


def test_truncated_pdf_is_corrupt(files: Any) -> None:
    assert failure(FileKind.PDF, b"%PDF-1.7\n1 0 obj <</Type /Catalog") == "corrupt_document"


def test_pdf_over_the_page_cap_is_refused(files: Any) -> None:
    assert failure(FileKind.PDF, files.pdf(["a", "b", "c", "d"])) == "too_many_pages"


def test_pdf_without_text_extracts_nothing(files: Any) -> None:
    assert extract(FileKind.PDF, files.pdf([""]), LIMITS).text.strip() == ""


def test_docx_paragraphs_are_extracted(files: Any) -> None:
    text = extract(FileKind.DOCX, files.docx(["Hello from Word", "Second"]), LIMITS).text
    assert text.splitlines()[:2] == ["Hello from Word", "Second"]


def test_truncated_docx_is_corrupt(files: Any) -> None:
    data = files.docx(["text"])
    assert failure(FileKind.DOCX, data[: len(data) // 2]) == "corrupt_document"


def test_zip_that_is_not_a_docx_is_corrupt(files: Any) -> None:
    assert failure(FileKind.DOCX, files.zip({"a.txt": b"x"})) == "corrupt_document"


def test_zip_bomb_is_refused_before_unpacking(files: Any) -> None:
    bomb = files.zip({"word/document.xml": b"0" * (2 * 1024 * 1024)})
    limits = Limits.of(IngestSettings(max_unzipped_bytes=1024 * 1024))
    assert failure(FileKind.DOCX, bomb, limits) == "archive_too_large"


def test_html_becomes_text_without_scripts() -> None:
    text = extract(FileKind.HTML, b"<h1>Title</h1><script>evil()</script><p>Body</p>", LIMITS).text
    assert "Title" in text
    assert "Body" in text
    assert "evil" not in text


def test_invalid_utf8_text_is_refused() -> None:
    assert failure(FileKind.PLAIN, b"caf\xe9 au lait") == "invalid_utf8"


def test_utf8_bom_is_dropped() -> None:
    assert extract(FileKind.MARKDOWN, "\ufeff# Hi".encode(), LIMITS).text == "# Hi"


async def test_extractor_runs_in_a_worker_and_maps_failures(files: Any) -> None:
    extractor = Extractor(IngestSettings(extraction_workers=1))
    try:
        extracted = await extractor.extract(FileKind.DOCX, files.docx(["From a worker"]))
        assert extracted.text.startswith("From a worker")
        with pytest.raises(DocflowError) as caught:
            await extractor.extract(FileKind.PLAIN, b"\xff\xfe")
        assert (caught.value.status_code, caught.value.code) == (422, "invalid_utf8")
    finally:
        await asyncio.to_thread(extractor.close)


async def test_a_job_over_the_timeout_is_abandoned_and_the_pool_recovers(files: Any) -> None:
    settings = IngestSettings(extraction_workers=1, extraction_timeout_s=0.001)
    extractor = Extractor(settings)
    try:
        with pytest.raises(DocflowError) as caught:
            await extractor.extract(FileKind.PDF, files.pdf(["slow enough"]))
        assert caught.value.code == "extraction_timeout"
        settings.extraction_timeout_s = 30
        extracted = await extractor.extract(FileKind.PLAIN, b"still working")
        assert extracted.text == "still working"
    finally:
        await asyncio.to_thread(extractor.close)

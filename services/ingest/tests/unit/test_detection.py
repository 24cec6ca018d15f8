from __future__ import annotations

from typing import Any

import pytest

from docflow.common.errors import DocflowError
from docflow.ingest.uploads.detection import (
    DOCX_MIME,
    FileKind,
    check_agreement,
    declared_kind,
    detect,
)

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("name", "mime", "kind"),
    [
        ("a.pdf", "application/pdf", FileKind.PDF),
        ("a.docx", DOCX_MIME, FileKind.DOCX),
        ("a.txt", "text/plain; charset=utf-8", FileKind.PLAIN),
        ("notes.md", "text/plain", FileKind.MARKDOWN),
        ("page.HTM", "application/octet-stream", FileKind.HTML),
        ("noext", "text/html", FileKind.HTML),
        (None, None, FileKind.PLAIN),
    ],
)
def test_declared_kind_from_extension_and_mime(
    name: str | None, mime: str | None, kind: FileKind
) -> None:
    assert declared_kind(name, mime) is kind


@pytest.mark.parametrize(
    ("name", "mime"), [("a.png", "image/png"), ("a.exe", None), ("a.txt", "image/png")]
)
def test_unsupported_claims_are_415(name: str, mime: str | None) -> None:
    with pytest.raises(DocflowError) as caught:
        declared_kind(name, mime)
    assert (caught.value.status_code, caught.value.code) == (415, "unsupported_type")


def test_extension_contradicting_the_mime_is_a_mismatch() -> None:
    with pytest.raises(DocflowError) as caught:
        declared_kind("a.pdf", "text/plain")
    assert caught.value.code == "type_mismatch"


def test_detection_from_magic_bytes(files: Any) -> None:
    assert detect(files.pdf(["x"])).family == "pdf"
    assert detect(files.docx(["x"])).family == "docx"
    assert detect("héllo wörld".encode()).family == "text"
    assert detect(files.png) == detect(files.png)
    assert detect(files.png).family == "binary"
    assert detect(files.png).label == "image/png"


def test_a_png_named_pdf_does_not_agree() -> None:
    from docflow.ingest.uploads.detection import Detected

    with pytest.raises(DocflowError) as caught:
        check_agreement(FileKind.PDF, Detected("binary", "image/png"))
    assert (caught.value.status_code, caught.value.code) == (415, "type_mismatch")


def test_text_kinds_agree_with_text_bytes() -> None:
    for kind in (FileKind.PLAIN, FileKind.MARKDOWN, FileKind.HTML):
        check_agreement(kind, detect(b"# Title\n\nbody"))

"""Zip bombs are refused from what the archive states and from what it really inflates to."""

from __future__ import annotations

import struct
from typing import Any

import pytest

from docflow.ingest.settings import IngestSettings
from docflow.ingest.uploads.detection import FileKind
from docflow.ingest.uploads.extraction import Limits, extract
from docflow.ingest.uploads.failures import ExtractionFailed

pytestmark = pytest.mark.unit

MIB = 1024 * 1024
LIMITS = Limits.of(
    IngestSettings(
        max_unzipped_bytes=4 * MIB,
        max_zip_member_bytes=2 * MIB,
        max_zip_members=20,
        max_zip_ratio=50,
    )
)


def refusal(data: bytes) -> str:
    with pytest.raises(ExtractionFailed) as caught:
        extract(FileKind.DOCX, data, LIMITS)
    return caught.value.code


def test_an_ordinary_docx_passes(files: Any) -> None:
    assert extract(FileKind.DOCX, files.docx(["Quarterly review"]), LIMITS).text.startswith(
        "Quarterly review"
    )


# The checks run before python-docx opens the archive, so a bare zip shows them.


def test_a_member_packed_beyond_the_ratio_is_refused(files: Any) -> None:
    bomb = files.zip({"word/document.xml": b"<w:p/>" * 300_000})  # 1.8 MB in a few kilobytes
    assert len(bomb) < 64 * 1024
    assert refusal(bomb) == "archive_too_large"


def test_a_member_over_its_size_is_refused(files: Any) -> None:
    assert refusal(files.zip({"word/document.xml": b"<w:p/>" * 400_000})) == "archive_too_large"


def test_members_over_the_total_are_refused(files: Any) -> None:
    parts = {f"word/media/part{i}.bin": bytes(range(256)) * 6000 for i in range(3)}  # 1.5 MB each
    assert refusal(files.zip(parts)) == "archive_too_large"


def test_too_many_members_are_refused(files: Any) -> None:
    assert refusal(files.zip({f"item{i}.xml": b"<a/>" for i in range(25)})) == "archive_too_large"


def _understate_sizes(data: bytes, name: bytes, stated: int) -> bytes:
    """The archive with `name`'s uncompressed size written as `stated` in both of its headers."""
    patched = bytearray(data)
    for signature, size_offset, name_offset in ((b"PK\x03\x04", 22, 30), (b"PK\x01\x02", 24, 46)):
        at = 0
        while (at := patched.find(signature, at)) >= 0:
            if patched[at + name_offset : at + name_offset + len(name)] == name:
                patched[at + size_offset : at + size_offset + 4] = struct.pack("<I", stated)
            at += 4
    return bytes(patched)


def test_a_member_whose_headers_understate_its_size_is_not_parsed(files: Any) -> None:
    honest = files.zip({"word/document.xml": b"<w:p><w:r><w:t>lie</w:t></w:r></w:p>" * 100_000})
    lying = _understate_sizes(honest, b"word/document.xml", 1000)
    # Inflating stops at the stated size and the checksum then fails: nothing reaches the parser.
    assert refusal(lying) == "corrupt_document"

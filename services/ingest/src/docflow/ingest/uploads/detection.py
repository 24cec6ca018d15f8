"""What a file claims to be (extension, content type) and what its bytes say it is.

The bytes decide: a PDF must start like a PDF, a DOCX must be a zip, a text file must be UTF-8
text and not another known format. Claim and bytes must agree, or the upload is refused (415).
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from enum import StrEnum
from pathlib import PurePosixPath

import puremagic

from docflow.ingest.errors import TypeMismatch, UnsupportedType


class FileKind(StrEnum):
    PDF = "pdf"
    DOCX = "docx"
    PLAIN = "txt"
    MARKDOWN = "md"
    HTML = "html"

    @property
    def family(self) -> str:
        return "text" if self in _TEXT_KINDS else self.value

    @property
    def mime(self) -> str:
        return _MIME_OF[self]


_TEXT_KINDS = frozenset({FileKind.PLAIN, FileKind.MARKDOWN, FileKind.HTML})
DOCX_MIME = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
_MIME_OF = {
    FileKind.PDF: "application/pdf",
    FileKind.DOCX: DOCX_MIME,
    FileKind.PLAIN: "text/plain",
    FileKind.MARKDOWN: "text/markdown",
    FileKind.HTML: "text/html",
}
_BY_EXTENSION = {
    ".pdf": FileKind.PDF,
    ".docx": FileKind.DOCX,
    ".txt": FileKind.PLAIN,
    ".text": FileKind.PLAIN,
    ".md": FileKind.MARKDOWN,
    ".markdown": FileKind.MARKDOWN,
    ".html": FileKind.HTML,
    ".htm": FileKind.HTML,
}
_BY_MIME = {
    "application/pdf": FileKind.PDF,
    DOCX_MIME: FileKind.DOCX,
    "text/plain": FileKind.PLAIN,
    "text/markdown": FileKind.MARKDOWN,
    "text/x-markdown": FileKind.MARKDOWN,
    "text/html": FileKind.HTML,
}
# Clients send these when they do not know the type; they claim nothing.
_GENERIC_MIMES = frozenset({"", "application/octet-stream", "binary/octet-stream"})
_MAGIC_CONFIDENCE = 0.5
_SNIFF_BYTES = 4096


def declared_kind(file_name: str | None, content_type: str | None) -> FileKind:
    """The kind the client claims; 415 when it claims something unsupported or contradictory."""
    suffix = PurePosixPath(file_name or "").suffix.lower()
    by_extension = _BY_EXTENSION.get(suffix) if suffix else None
    if suffix and by_extension is None:
        raise UnsupportedType(details={"extension": suffix[:32]})
    mime = (content_type or "").split(";", 1)[0].strip().lower()
    by_mime = _BY_MIME.get(mime)
    if mime not in _GENERIC_MIMES and by_mime is None:
        raise UnsupportedType(details={"content_type": mime[:100]})
    if by_extension and by_mime and by_extension.family != by_mime.family:
        raise TypeMismatch(
            f"The extension {suffix!r} contradicts the content type {mime!r}.",
            details={"extension": suffix, "content_type": mime},
        )
    # Within text, the extension is the better hint (browsers send text/plain for .md).
    return by_extension or by_mime or FileKind.PLAIN


@dataclass(frozen=True, slots=True)
class Detected:
    family: str  # pdf, docx (a zip container), text, or another format's name
    label: str


def detect(data: bytes) -> Detected:
    """The file's family from its first bytes (magic numbers)."""
    if b"%PDF-" in data[:1024]:
        return Detected("pdf", "application/pdf")
    if data.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return Detected("docx", "application/zip")
    head = data[:_SNIFF_BYTES]
    try:
        # Incremental: a multi-byte character cut at the sniff boundary is not an error.
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        label = _known_binary(head)
        if label is not None:
            return Detected("binary", label)
    # Text, or bytes no format claims: the strict decode in extraction has the last word.
    return Detected("text", "text/plain")


def _known_binary(head: bytes) -> str | None:
    try:
        matches = puremagic.magic_string(head)
    except (puremagic.PureError, ValueError):
        return None
    for match in matches:
        if match.confidence >= _MAGIC_CONFIDENCE:
            return str(match.mime_type or match.extension or match.name)
    return None


def check_agreement(declared: FileKind, detected: Detected) -> None:
    if declared.family != detected.family:
        raise TypeMismatch(
            f"The file claims to be {declared.value} but its bytes look like {detected.label}.",
            details={"declared": declared.mime, "detected": detected.label},
        )

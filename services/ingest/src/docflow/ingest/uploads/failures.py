"""The one exception a extraction worker raises back to the service, and its HTTP error."""

from __future__ import annotations

from docflow.common.errors import DocflowError
from docflow.ingest.errors import (
    ArchiveTooLarge,
    CorruptDocument,
    DocumentTooComplex,
    EmptyDocument,
    EncryptedDocument,
    InvalidUtf8,
    TooManyPages,
    UploadTooLarge,
)

_FAILURES: dict[str, type[DocflowError]] = {
    cls.code: cls
    for cls in (
        ArchiveTooLarge,
        CorruptDocument,
        DocumentTooComplex,
        EmptyDocument,
        EncryptedDocument,
        InvalidUtf8,
        TooManyPages,
        UploadTooLarge,
    )
}


class ExtractionFailed(Exception):
    """Raised in a worker; carries only strings so it pickles back to the service."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(code, message)
        self.code = code
        self.message = message

    def to_error(self) -> DocflowError:
        return _FAILURES.get(self.code, CorruptDocument)(self.message)

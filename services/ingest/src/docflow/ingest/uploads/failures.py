"""The one exception an extraction worker raises back to the service, and its HTTP error."""

from __future__ import annotations

from docflow.common.errors import DocflowError
from docflow.ingest import errors

# The codes a worker may name, and the error each becomes; anything else is corrupt_document.
_FAILURES: dict[str, type[DocflowError]] = {
    cls.code: cls
    for cls in (
        errors.ArchiveTooLarge,
        errors.CorruptDocument,
        errors.DocumentTooComplex,
        errors.EmptyDocument,
        errors.EncryptedDocument,
        errors.InvalidUtf8,
        errors.TooManyPages,
        errors.UploadTooLarge,
    )
}


class ExtractionFailed(Exception):
    """Raised in a worker; carries only strings so it pickles back to the service."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(code, message)
        self.code = code
        self.message = message

    def to_error(self) -> DocflowError:
        return _FAILURES.get(self.code, errors.CorruptDocument)(self.message)

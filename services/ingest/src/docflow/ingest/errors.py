"""The ingest service's specific failures, each with a stable machine-readable code.

The same codes name the reason of a dead letter (`error.type`) when the input came from Kafka.
"""

from __future__ import annotations

from docflow.common.errors import (
    BadRequest,
    Conflict,
    DocflowError,
    PayloadTooLarge,
    RateLimited,
    ServiceUnavailable,
    UnprocessableContent,
    UnsupportedMediaType,
)


class BodyTooLarge(PayloadTooLarge):
    code, default_message = "body_too_large", "The request body exceeds the size limit."


class ContentTooLarge(PayloadTooLarge):
    code, default_message = "content_too_large", "The document content exceeds the size limit."


class UploadTooLarge(PayloadTooLarge):
    code, default_message = "upload_too_large", "The uploaded file exceeds the size limit."


class ArchiveTooLarge(PayloadTooLarge):
    code = "archive_too_large"
    default_message = "The file unpacks to more than allowed (too large, too many or too packed)."


class TooManyPages(PayloadTooLarge):
    code, default_message = "too_many_pages", "The document has more pages than allowed."


class EmptyContent(UnprocessableContent):
    code = "empty_content"
    default_message = "The document content is empty after sanitization."


class FieldTooLong(UnprocessableContent):
    code, default_message = "field_too_long", "A text field exceeds its length limit."


class InvalidMetadata(UnprocessableContent):
    code, default_message = "invalid_metadata", "The metadata is not acceptable."


class InvalidTenant(UnprocessableContent):
    """Only for documents.incoming: a REST caller's tenant is its API key's."""

    code = "invalid_tenant"
    default_message = (
        "tenant_id must be a tenant name: lower-case letters, digits, '_' and '-', "
        "starting with a letter or digit, at most 63 characters."
    )


class TenantMismatch(DocflowError):
    status_code, code = 403, "tenant_mismatch"
    default_message = (
        "tenant_id differs from the tenant of the API key; leave it out, or send the key's tenant."
    )


class TenantQuotaExceeded(RateLimited):
    code = "tenant_quota_exceeded"
    default_message = "The tenant's documents for today (UTC) are used up."


class TooManyUploads(RateLimited):
    code = "too_many_uploads"
    default_message = "The tenant has as many uploads in progress as allowed; retry when one ends."


class BatchTooLarge(UnprocessableContent):
    code, default_message = "batch_too_large", "The batch holds more documents than allowed."


class InvalidBody(UnprocessableContent):
    code, default_message = "validation_error", "The request is invalid."


class InvalidJson(BadRequest):
    code, default_message = "invalid_json", "The request body is not valid JSON."


class InvalidMultipart(BadRequest):
    code, default_message = "invalid_multipart", "The multipart body could not be parsed."


class MissingFile(UnprocessableContent):
    code, default_message = "missing_file", "The multipart field `file` is required."


class UnsupportedType(UnsupportedMediaType):
    code = "unsupported_type"
    default_message = "Only txt, md, html, pdf and docx files are accepted."


class TypeMismatch(UnsupportedMediaType):
    code = "type_mismatch"
    default_message = "The file's bytes do not match its declared type or extension."


class InvalidUtf8(UnprocessableContent):
    code, default_message = "invalid_utf8", "The text is not valid UTF-8."


class EncryptedDocument(UnprocessableContent):
    code, default_message = "encrypted_document", "The document is password-protected."


class CorruptDocument(UnprocessableContent):
    code, default_message = "corrupt_document", "The document is damaged and cannot be read."


class EmptyDocument(UnprocessableContent):
    code, default_message = "empty_document", "The document contains no extractable text."


class DocumentTooComplex(UnprocessableContent):
    code = "document_too_complex"
    default_message = "The document needs more memory to parse than allowed."


class ExtractionTimeout(UnprocessableContent):
    code = "extraction_timeout"
    default_message = "Extracting the text took too long; the file was abandoned."


class SanitizingTimeout(UnprocessableContent):
    code = "sanitizing_timeout"
    default_message = "Cleaning the document's markup took too long; it was abandoned."


class IdempotencyKeyReused(UnprocessableContent):
    code = "idempotency_key_reused"
    default_message = "This Idempotency-Key was already used with a different request body."


class IdempotencyInProgress(Conflict):
    code = "idempotency_in_progress"
    default_message = "A request with this Idempotency-Key is still being processed; retry."


class InvalidIdempotencyKey(BadRequest):
    code = "invalid_idempotency_key"
    default_message = "Idempotency-Key must be 1-255 visible ASCII characters."


class StorageUnavailable(ServiceUnavailable):
    code = "storage_unavailable"
    default_message = "The document store is unavailable; try again shortly."


class ExtractorUnavailable(ServiceUnavailable):
    code = "extractor_unavailable"
    default_message = "Text extraction is busy or unavailable; try again shortly."


class SanitizerBusy(ServiceUnavailable):
    code = "sanitizer_busy"
    default_message = "Too many large documents are being cleaned; try again shortly."


class EventBacklogFull(ServiceUnavailable):
    code = "event_backlog_full"
    default_message = "Too many documents are waiting for the event broker; try again shortly."

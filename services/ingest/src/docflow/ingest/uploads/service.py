"""An uploaded file becomes a document: type checks, extraction, then the common ingest path."""

from __future__ import annotations

import hashlib
from pathlib import PurePosixPath

from docflow.common.documents import ContentType, MetadataValue
from docflow.common.events import IncomingDocument
from docflow.ingest.documents.quota import TenantQuota
from docflow.ingest.documents.schemas import IngestOutcome
from docflow.ingest.documents.service import ingest_document
from docflow.ingest.documents.store import DocumentStore
from docflow.ingest.errors import EmptyContent, EmptyDocument
from docflow.ingest.settings import IngestSettings
from docflow.ingest.uploads.detection import FileKind, check_agreement, declared_kind, detect
from docflow.ingest.uploads.extraction import Extracted, Extractor
from docflow.ingest.uploads.reader import UploadForm


def upload_fingerprint(form: UploadForm) -> str:
    """What makes two uploads the same request (multipart boundaries differ between retries)."""
    digest = hashlib.sha256(form.data)
    for name in sorted(form.fields):
        digest.update(f"\x00{name}={form.fields[name]}".encode())
    digest.update(f"\x00file={form.file_name}".encode())
    return digest.hexdigest()


def _as_document(form: UploadForm, kind: FileKind, extracted: Extracted) -> IncomingDocument:
    metadata: dict[str, MetadataValue] = {"file_type": kind.mime, "file_bytes": len(form.data)}
    if form.file_name:
        metadata["file_name"] = PurePosixPath(form.file_name).name
    if extracted.pages is not None:
        metadata["pages"] = extracted.pages
    # The stored text is extracted plain text, except Markdown, which stays Markdown.
    content_type = ContentType.MARKDOWN if kind is FileKind.MARKDOWN else ContentType.PLAIN
    title = form.fields.get("title") or (
        PurePosixPath(form.file_name).stem if form.file_name else None
    )
    return IncomingDocument(
        content=extracted.text,
        title=title,
        source=form.fields.get("source"),
        external_id=form.fields.get("external_id"),
        content_type=content_type,
        metadata=metadata,
    )


async def ingest_upload(
    *,
    form: UploadForm,
    tenant_id: str,
    settings: IngestSettings,
    extractor: Extractor,
    store: DocumentStore,
    quota: TenantQuota,
) -> IngestOutcome:
    kind = declared_kind(form.file_name, form.content_type)
    if not form.data:
        raise EmptyDocument("The uploaded file is empty.")
    check_agreement(kind, detect(form.data))
    extracted = await extractor.extract(kind, form.data)
    try:
        return await ingest_document(
            document=_as_document(form, kind, extracted),
            tenant_id=tenant_id,
            origin="upload",
            settings=settings,
            store=store,
            quota=quota,
        )
    except EmptyContent:
        raise EmptyDocument() from None

"""Reading a multipart upload without ever holding more than the size limit.

The declared Content-Length is checked first; then the body is streamed into the multipart
parser through a counter that stops the upload as soon as it passes the limit. The parser
spools file data to a temporary file beyond 1 MiB, so memory stays small while reading.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass, field

from fastapi import Request
from starlette.datastructures import FormData, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from docflow.common.errors import UnsupportedMediaType
from docflow.ingest.errors import InvalidMultipart, MissingFile, UploadTooLarge

FILE_FIELD = "file"
TEXT_FIELDS = ("title", "source", "external_id", "tenant_id")
# Room for the boundaries, part headers and the small text fields next to the file.
_FORM_OVERHEAD_BYTES = 64 * 1024
_MAX_TEXT_FIELD_BYTES = 16 * 1024


@dataclass(frozen=True, slots=True)
class UploadForm:
    file_name: str | None
    content_type: str | None
    data: bytes
    fields: dict[str, str] = field(default_factory=dict)


def _too_large(limit: int) -> UploadTooLarge:
    return UploadTooLarge(f"The upload exceeds {limit} bytes.", details={"max_bytes": limit})


async def _bounded(
    stream: AsyncIterator[bytes], *, limit: int, file_limit: int
) -> AsyncGenerator[bytes, None]:
    size = 0
    async for chunk in stream:
        size += len(chunk)
        if size > limit:
            raise _too_large(file_limit)
        yield chunk


async def read_upload(request: Request, *, max_file_bytes: int) -> UploadForm:
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise UnsupportedMediaType("The upload must be sent as multipart/form-data.")
    body_limit = max_file_bytes + _FORM_OVERHEAD_BYTES
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > body_limit:
        raise _too_large(max_file_bytes)
    parser = MultiPartParser(
        request.headers,
        _bounded(request.stream(), limit=body_limit, file_limit=max_file_bytes),
        max_files=1,
        max_fields=len(TEXT_FIELDS),
        max_part_size=_MAX_TEXT_FIELD_BYTES,
    )
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise InvalidMultipart(str(exc)) from None
    try:
        return await _collect(form, max_file_bytes=max_file_bytes)
    finally:
        await form.close()


async def _collect(form: FormData, *, max_file_bytes: int) -> UploadForm:
    upload = form.get(FILE_FIELD)
    if not isinstance(upload, UploadFile):
        raise MissingFile()
    if upload.size is not None and upload.size > max_file_bytes:
        raise _too_large(max_file_bytes)
    data = await upload.read()
    fields = {
        name: value for name in TEXT_FIELDS if isinstance(value := form.get(name), str) and value
    }
    return UploadForm(
        file_name=upload.filename, content_type=upload.content_type, data=data, fields=fields
    )

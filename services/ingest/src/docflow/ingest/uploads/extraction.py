"""Text extraction from uploaded files, run in worker processes.

Parsing a file is CPU-bound pure Python (pypdf) that would hold the GIL and stall the event
loop, and a hostile file can make a parser spin. So extraction runs in a small process pool,
at most one job per worker at a time, each bounded by a timeout and a page cap. A job that
times out has its pool killed and replaced: a runaway parser cannot be stopped any other way.
"""

from __future__ import annotations

import asyncio
import io
import logging
import multiprocessing
import zipfile
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass

from docflow.common.errors import DocflowError
from docflow.ingest.errors import (
    CorruptDocument,
    EmptyDocument,
    EncryptedDocument,
    ExtractionTimeout,
    ExtractorUnavailable,
    InvalidUtf8,
    TooManyPages,
    UploadTooLarge,
)
from docflow.ingest.settings import IngestSettings
from docflow.ingest.uploads.detection import FileKind

logger = logging.getLogger(__name__)

# The pool is replaced after this many jobs, so a parser's leaks cannot accumulate. Not
# ProcessPoolExecutor's max_tasks_per_child: on Python 3.11 a worker exiting at that limit can
# leave queued jobs with no worker at all (CPython gh-115634).
_JOBS_PER_POOL = 200

_FAILURES: dict[str, type[DocflowError]] = {
    cls.code: cls
    for cls in (
        CorruptDocument,
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


@dataclass(frozen=True, slots=True)
class Extracted:
    text: str
    pages: int | None = None


@dataclass(frozen=True, slots=True)
class Limits:
    max_pages: int
    max_unzipped_bytes: int


def import_parsers() -> None:
    """Runs in a worker at startup: the parsers take a second to import."""
    import docx
    import inscriptis
    import pypdf

    del docx, inscriptis, pypdf


def extract(kind: FileKind, data: bytes, limits: Limits) -> Extracted:
    """Extract the text of one file (runs in a worker process)."""
    if kind is FileKind.PDF:
        return _extract_pdf(data, limits)
    if kind is FileKind.DOCX:
        return Extracted(_extract_docx(data, limits))
    text = _decode_utf8(data)
    if kind is FileKind.HTML:
        from inscriptis import get_text

        text = get_text(text)
    return Extracted(text)


def _decode_utf8(data: bytes) -> str:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ExtractionFailed(
            "invalid_utf8", f"The file is not valid UTF-8 (byte offset {exc.start})."
        ) from None
    return text.removeprefix("\ufeff")


def _extract_pdf(data: bytes, limits: Limits) -> Extracted:
    from pypdf import PasswordType, PdfReader

    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            # Files with only an owner password (print/copy restrictions) open with "".
            try:
                opened = reader.decrypt("") != PasswordType.NOT_DECRYPTED
            except Exception:
                opened = False
            if not opened:
                raise ExtractionFailed(
                    "encrypted_document", "The PDF is password-protected; upload it unlocked."
                )
        pages = len(reader.pages)
        if pages > limits.max_pages:
            raise ExtractionFailed(
                "too_many_pages", f"The PDF has {pages} pages; the limit is {limits.max_pages}."
            )
        text = "\n\n".join((page.extract_text() or "").strip() for page in reader.pages)
    except ExtractionFailed:
        raise
    except Exception as exc:
        raise ExtractionFailed(
            "corrupt_document", f"The PDF cannot be read ({type(exc).__name__})."
        ) from None
    return Extracted(text, pages)


def _extract_docx(data: bytes, limits: Limits) -> str:
    import docx

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
            if unpacked > limits.max_unzipped_bytes:
                raise ExtractionFailed(
                    "upload_too_large",
                    f"The DOCX unpacks to {unpacked} bytes; the limit is "
                    f"{limits.max_unzipped_bytes}.",
                )
            if "word/document.xml" not in archive.namelist():
                raise ExtractionFailed("corrupt_document", "The zip file is not a DOCX document.")
        document = docx.Document(io.BytesIO(data))
        parts = [paragraph.text for paragraph in document.paragraphs]
        for table in document.tables:
            for row in table.rows:
                parts.append("\t".join(cell.text for cell in row.cells))
    except ExtractionFailed:
        raise
    except Exception as exc:
        raise ExtractionFailed(
            "corrupt_document", f"The DOCX cannot be read ({type(exc).__name__})."
        ) from None
    return "\n".join(parts)


class Extractor:
    """The service side: submits jobs to the pool with a concurrency cap and a timeout."""

    def __init__(self, settings: IngestSettings) -> None:
        self.settings = settings
        self.limits = Limits(settings.pdf_max_pages, settings.max_unzipped_bytes)
        self._slots = asyncio.Semaphore(settings.extraction_workers)
        self._pool: ProcessPoolExecutor | None = None
        self._jobs = 0

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is not None and self._jobs >= _JOBS_PER_POOL:
            # Jobs still running in the old pool finish there; new ones go to fresh workers.
            self._pool.shutdown(wait=False)
            self._pool = None
        if self._pool is None:
            # forkserver: forking a process that runs asyncio and Kafka threads is unsafe.
            self._pool = ProcessPoolExecutor(
                max_workers=self.settings.extraction_workers,
                mp_context=multiprocessing.get_context("forkserver"),
            )
            self._jobs = 0
        self._jobs += 1
        return self._pool

    async def extract(self, kind: FileKind, data: bytes) -> Extracted:
        timeout = self.settings.extraction_timeout_s
        try:
            await asyncio.wait_for(self._slots.acquire(), timeout=timeout)
        except TimeoutError:
            raise ExtractorUnavailable() from None
        try:
            return await self._run(kind, data)
        finally:
            self._slots.release()

    async def _run(self, kind: FileKind, data: bytes) -> Extracted:
        loop = asyncio.get_running_loop()
        timeout = self.settings.extraction_timeout_s
        future = loop.run_in_executor(self._executor(), extract, kind, data, self.limits)
        try:
            return await asyncio.wait_for(future, timeout=timeout)
        except ExtractionFailed as exc:
            raise exc.to_error() from None
        except TimeoutError:
            logger.warning("extraction timed out; replacing the worker pool", extra={"kind": kind})
            self._kill_pool()
            raise ExtractionTimeout() from None
        except BrokenProcessPool:
            self._kill_pool()
            raise ExtractorUnavailable() from None

    async def warm_up(self) -> None:
        """Start a worker and import the parsers now, not on the first user's upload."""
        loop = asyncio.get_running_loop()
        async with self._slots:
            try:
                await loop.run_in_executor(self._executor(), import_parsers)
            except (BrokenProcessPool, RuntimeError) as exc:  # shutting down meanwhile
                logger.warning("extractor warm-up failed", extra={"error": type(exc).__name__})

    def _kill_pool(self) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        # The executor offers no way to stop a running job; its processes are ours to end.
        for process in list(getattr(pool, "_processes", {}).values()):
            process.kill()
        pool.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        """At shutdown no request waits for a job any more: end the workers, do not wait."""
        self._kill_pool()

"""Text extraction from uploaded files, run in worker processes.

Parsing a file is CPU-bound pure Python (pypdf) that would hold the GIL and stall the event
loop, and a hostile file can make a parser spin. So extraction runs in a small process pool,
at most one job per worker at a time, each bounded by a timeout, a page cap, the zip limits
of archive.py and an address-space limit (RLIMIT_AS) set when the worker starts. A job that
times out has its pool killed and replaced: a runaway parser cannot be stopped any other way.
A job that ran out of memory is answered 422 and its pool replaced too, so no worker carries
on with a heap grown to its limit.
"""

from __future__ import annotations

import asyncio
import io
import logging
import multiprocessing
import resource
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass

from docflow.ingest.errors import DocumentTooComplex, ExtractionTimeout, ExtractorUnavailable
from docflow.ingest.metrics import EXTRACTION_DURATION
from docflow.ingest.settings import IngestSettings
from docflow.ingest.uploads.archive import ArchiveLimits, open_checked
from docflow.ingest.uploads.detection import FileKind
from docflow.ingest.uploads.failures import ExtractionFailed

logger = logging.getLogger(__name__)

# The pool is replaced after this many jobs, so a parser's leaks cannot accumulate. Not
# ProcessPoolExecutor's max_tasks_per_child: on Python 3.11 a worker exiting at that limit can
# leave queued jobs with no worker at all (CPython gh-115634).
_JOBS_PER_POOL = 200
# A parser that fails after its worker's address space came this close to the limit failed
# for want of memory (lxml reports a failed allocation as an XML syntax error).
_NEAR_LIMIT = 0.9
_TOO_COMPLEX = "The document needs more memory to parse than a worker may use."


@dataclass(frozen=True, slots=True)
class Extracted:
    text: str
    pages: int | None = None


@dataclass(frozen=True, slots=True)
class Limits:
    max_pages: int
    archive: ArchiveLimits

    @classmethod
    def of(cls, settings: IngestSettings) -> Limits:
        archive = ArchiveLimits(
            max_members=settings.max_zip_members,
            max_member_bytes=settings.max_zip_member_bytes,
            max_total_bytes=settings.max_unzipped_bytes,
            max_ratio=settings.max_zip_ratio,
        )
        return cls(settings.pdf_max_pages, archive)


def limit_worker(memory_bytes: int) -> None:
    """Runs first in every worker: cap its address space, so a bomb fails instead of the host."""
    if memory_bytes > 0:
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))


def _near_memory_limit() -> bool:
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY:
        return False
    try:
        with open("/proc/self/status") as status:
            peak_kib = next(int(line.split()[1]) for line in status if line.startswith("VmPeak:"))
    except (OSError, StopIteration, ValueError):
        return False
    return peak_kib * 1024 >= soft * _NEAR_LIMIT


def _unreadable(what: str, exc: Exception) -> ExtractionFailed:
    if isinstance(exc, MemoryError) or _near_memory_limit():
        return ExtractionFailed("document_too_complex", _TOO_COMPLEX)
    return ExtractionFailed(
        "corrupt_document", f"The {what} cannot be read ({type(exc).__name__})."
    )


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
        raise _unreadable("PDF", exc) from None
    return Extracted(text, pages)


def _extract_docx(data: bytes, limits: Limits) -> str:
    import docx

    try:
        with open_checked(data, limits.archive) as archive:
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
        raise _unreadable("DOCX", exc) from None
    return "\n".join(parts)


class Extractor:
    """The service side: submits jobs to the pool with a concurrency cap and a timeout."""

    def __init__(self, settings: IngestSettings) -> None:
        self.settings = settings
        self.limits = Limits.of(settings)
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
                initializer=limit_worker,
                initargs=(self.settings.extraction_memory_bytes,),
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
        started, outcome = time.perf_counter(), "error"  # until known (cancelled, say)
        try:
            extracted = await asyncio.wait_for(future, timeout=timeout)
            outcome = "ok"
            return extracted
        except ExtractionFailed as exc:
            outcome = "rejected"
            if exc.code == DocumentTooComplex.code:
                logger.warning("extraction ran out of memory; replacing the worker pool")
                self._kill_pool()
            raise exc.to_error() from None
        except TimeoutError:
            outcome = "timeout"
            logger.warning("extraction timed out; replacing the worker pool", extra={"kind": kind})
            self._kill_pool()
            raise ExtractionTimeout() from None
        except BrokenProcessPool:
            outcome = "crashed"
            self._kill_pool()
            raise ExtractorUnavailable() from None
        finally:
            EXTRACTION_DURATION.labels(kind.value, outcome).observe(time.perf_counter() - started)

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

"""Preparing a large document off the event loop, within a time budget.

Sanitizing a megabyte of hostile markup takes seconds (nh3 on entity-heavy text, the HTML
to text pass, the unescape rounds). On the event loop that would stall every request of the
process, `/health` included. So a document whose text passes a small size is prepared in a
thread: nh3 releases the GIL while it works, and the pure-Python steps give it up every
switch interval, so the loop keeps serving (checked by tests/security/test_cpu_bounds.py).

A thread cannot be stopped: a job that outlives its budget is answered with 422 and runs on to
its end in the background. That end is bounded because content over its limit is refused
before any work, and at most `sanitize_workers` jobs run at once; a job that cannot even start
within the budget is answered 503.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

from docflow.common.events import IncomingDocument
from docflow.ingest.documents.schemas import PreparedDocument
from docflow.ingest.documents.validation import prepare_document
from docflow.ingest.errors import SanitizerBusy, SanitizingTimeout
from docflow.ingest.settings import IngestSettings

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _executor(workers: int) -> ThreadPoolExecutor:
    # One pool per process, made on first use: it holds no loop, so any event loop may use it.
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sanitize")
        return _pool


def text_size(document: IncomingDocument) -> int:
    """Characters the sanitizer would read: the content and every string field."""
    size = len(document.content) + sum(
        len(value) for value in (document.title, document.source, document.external_id) if value
    )
    for key, value in (document.metadata or {}).items():
        size += len(key) + (len(value) if isinstance(value, str) else 0)
    return size


async def prepare_off_loop(
    document: IncomingDocument, *, tenant_id: str, settings: IngestSettings
) -> PreparedDocument:
    """prepare_document, in a worker thread when the document is large enough to matter."""
    if (
        text_size(document) <= settings.sanitize_inline_chars
        or len(document.content) > settings.max_content_chars  # refused at once, unread
    ):
        return prepare_document(document, tenant_id=tenant_id, settings=settings)
    started = threading.Event()

    def job() -> PreparedDocument:
        started.set()
        return prepare_document(document, tenant_id=tenant_id, settings=settings)

    loop = asyncio.get_running_loop()
    future = loop.run_in_executor(_executor(settings.sanitize_workers), job)
    try:
        return await asyncio.wait_for(future, timeout=settings.sanitize_timeout_s)
    except TimeoutError:
        # Not started: the workers were all busy (cancelled, it never runs). Started: the
        # document itself is too costly to clean.
        raise (SanitizingTimeout() if started.is_set() else SanitizerBusy()) from None

"""Large documents are sanitized off the event loop, within a budget, after an honest size check."""

from __future__ import annotations

import asyncio
import threading

import pytest

from docflow.common.errors import DocflowError
from docflow.common.events import IncomingDocument
from docflow.ingest.documents import offload
from docflow.ingest.documents.offload import prepare_off_loop
from docflow.ingest.documents.validation import prepare_document
from docflow.ingest.settings import IngestSettings

pytestmark = pytest.mark.unit

SETTINGS = IngestSettings(max_content_chars=200_000, sanitize_inline_chars=1000)
# Entity-heavy markup: each round of unescaping reveals more for nh3 to clean.
HOSTILE = "&amp;lt;b&amp;gt;" * 11_000


async def refusal(document: IncomingDocument, settings: IngestSettings) -> DocflowError:
    with pytest.raises(DocflowError) as caught:
        await prepare_off_loop(document, tenant_id="default", settings=settings)
    return caught.value


async def test_content_over_the_limit_is_refused_before_any_work() -> None:
    # Markup would shrink it under the limit, but what counts is what was sent.
    document = IncomingDocument(content="<b></b>" * 30_000 + "text")
    error = await refusal(document, SETTINGS)
    assert (error.status_code, error.code) == (413, "content_too_large")


async def test_a_large_document_is_prepared_in_a_worker_thread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    threads: list[str] = []

    def recording(
        document: IncomingDocument, *, tenant_id: str, settings: IngestSettings
    ) -> object:
        threads.append(threading.current_thread().name)
        return prepare_document(document, tenant_id=tenant_id, settings=settings)

    monkeypatch.setattr(offload, "prepare_document", recording)
    small = await prepare_off_loop(
        IncomingDocument(content="<i>short</i>"), tenant_id="acme", settings=SETTINGS
    )
    large = await prepare_off_loop(
        IncomingDocument(content="word " * 1000), tenant_id="acme", settings=SETTINGS
    )

    assert (small.content, small.tenant_id) == ("short", "acme")
    assert large.content.startswith("word word")
    assert threads[0] == threading.current_thread().name
    assert threads[1].startswith("sanitize")


async def test_a_document_over_the_time_budget_is_refused_and_the_loop_kept_serving() -> None:
    settings = SETTINGS.model_copy(update={"sanitize_timeout_s": 0.05})
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.005)
            ticks += 1

    counting = asyncio.create_task(ticker())
    try:
        error = await refusal(IncomingDocument(content=HOSTILE), settings)
    finally:
        counting.cancel()
    assert (error.status_code, error.code) == (422, "sanitizing_timeout")
    assert ticks >= 3  # the loop ran while the thread worked

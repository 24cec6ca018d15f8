"""The dead-letter runbook on the real stack: a message ingest refused lands in documents.dlq,
`docflow-dlq show` lists it, and after the fix `docflow-dlq replay` sends it back once."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from docflow.common.deadletters.letters import summarize
from docflow.common.deadletters.reader import read_dead_letters
from docflow.common.deadletters.replay import REPLAYED_FROM_HEADER
from docflow.common.deadletters.repository import REPLAYS
from docflow.common.events import Topic
from docflow.ingest.main import create_app
from docflow.ingest.settings import IngestSettings
from docflow.testing import Isolation, collect_messages, produce_raw
from services.ingest.tests.integration.conftest import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]

LIMIT = 5_000  # the conftest's MAX_CONTENT_CHARS: "the bug"
LONG_CONTENT = "A long report that the first limit refused. " * 200  # ~9,000 characters


@asynccontextmanager
async def running_ingest(max_content_chars: int) -> AsyncIterator[FastAPI]:
    application = create_app(
        IngestSettings(max_content_chars=max_content_chars, incoming_batch_timeout_ms=100)
    )
    async with LifespanManager(application, startup_timeout=60, shutdown_timeout=60):
        yield application


def dlq(*args: str) -> str:
    """Run the console command as an operator would, in this test's environment."""
    done = subprocess.run(
        [sys.executable, "-m", "docflow.common.deadletters.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=os.environ.copy(),
        check=True,
    )
    return done.stdout


async def test_refused_messages_are_listed_then_replayed_once_after_the_fix(
    isolation: Isolation, test_db: Any
) -> None:
    documents = test_db["documents"]
    incoming = isolation.topic(Topic.INCOMING)
    messages = [
        orjson.dumps({"content": "A short note that fits.", "tenant_id": "acme"}),
        orjson.dumps({"content": LONG_CONTENT, "tenant_id": "acme"}),
        b'{"content": "unterminated',
    ]
    async with running_ingest(LIMIT):
        await produce_raw(incoming, messages, headers=[("x-request-id", b"upstream-7")])
        letters = await collect_messages(isolation.topic(Topic.DLQ), count=2, timeout_s=60)
        assert len(letters) == 2

    read = [letter async for letter in read_dead_letters(IngestSettings())]
    assert summarize(read) == {(incoming, "content_too_large"): 1, (incoming, "invalid_json"): 1}

    listing = dlq("show", "--error-type", "content_too_large", "--width", "60")
    assert f"{isolation.topic(Topic.DLQ)}: 2 dead letters" in listing
    assert "content_too_large" in listing
    assert "invalid_json" in listing
    assert "1 match; showing 1" in listing
    assert "x-request-id      upstream-7" in listing
    assert '{"content":"A long report that the first limit refused. A l…' in listing, "cut"

    planned = dlq("replay", "--error-type", "content_too_large", "--dry-run")
    assert planned.startswith("would replay 1, already replayed 0, refused 0")
    assert await test_db[REPLAYS].count_documents({}) == 0, "a dry run records nothing"

    async with running_ingest(LIMIT * 4):  # the fix: a limit that fits the report
        first = dlq("replay", "--error-type", "content_too_large")
        assert first.startswith("replayed 1, already replayed 0, refused 0")

        async def both_stored() -> bool:
            return bool(await documents.count_documents({"tenant_id": "acme"}) == 2)

        assert await wait_until(both_stored, timeout_s=60)
        again = dlq("replay", "--error-type", "content_too_large")
        assert again.startswith("replayed 0, already replayed 1, refused 0")

        # Even without the ledger (lost, or two operators at once) a replay stores nothing
        # twice: ingest keeps one document per content and tenant.
        await test_db[REPLAYS].delete_many({})
        dlq("replay", "--all")
        letters = await collect_messages(isolation.topic(Topic.DLQ), count=3, timeout_s=60)
        assert len(letters) == 3, "the unterminated JSON is dead-lettered again"
    assert await documents.count_documents({"tenant_id": "acme"}) == 2
    sent = await collect_messages(incoming, count=6, timeout_s=30)
    replayed = [
        dict(record.headers) for record in sent if REPLAYED_FROM_HEADER in dict(record.headers)
    ]
    assert len(replayed) == 3, "the report twice (the ledger lost in between), the bad JSON once"
    for headers in replayed:
        assert headers[REPLAYED_FROM_HEADER].decode().startswith(isolation.topic(Topic.DLQ))
        assert headers["x-request-id"] == b"upstream-7", "the correlation id travels on"
        assert "error.type" not in headers

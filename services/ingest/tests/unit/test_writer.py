from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from docflow.ingest.documents.writer import BatchWriter

pytestmark = pytest.mark.unit


async def test_concurrent_submissions_share_one_command_and_get_their_own_results() -> None:
    batches: list[list[int]] = []

    async def flush(items: list[int]) -> Sequence[int | BaseException]:
        batches.append(items)
        await asyncio.sleep(0.01)
        return [ValueError(item) if item == 3 else item * 10 for item in items]

    writer: BatchWriter[int, int] = BatchWriter(flush, max_batch=4, name="test")
    results = await asyncio.gather(*(writer.submit(i) for i in range(6)), return_exceptions=True)
    assert results[:3] == [0, 10, 20]
    assert isinstance(results[3], ValueError)
    assert results[4:] == [40, 50]
    assert batches == [[0, 1, 2, 3], [4, 5]]


async def test_a_failed_command_fails_every_item_of_its_batch_only() -> None:
    calls = 0

    async def flush(items: list[str]) -> Sequence[str | BaseException]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("store down")
        return items

    writer: BatchWriter[str, str] = BatchWriter(flush, max_batch=10, name="test")
    first = await asyncio.gather(writer.submit("a"), writer.submit("b"), return_exceptions=True)
    assert all(isinstance(result, ConnectionError) for result in first)
    assert await writer.submit("c") == "c"


async def test_fire_and_forget_writes_finish_before_close() -> None:
    written: list[str] = []

    async def flush(items: list[str]) -> Sequence[BaseException | None]:
        await asyncio.sleep(0.01)
        written.extend(items)
        return [None] * len(items)

    writer: BatchWriter[str, None] = BatchWriter(flush, max_batch=10, name="test")
    writer.submit_nowait("x")
    writer.submit_nowait("y")
    await writer.close()
    assert written == ["x", "y"]


async def test_an_item_submitted_as_the_last_worker_finishes_is_still_written() -> None:
    """The caller resumes before the worker task's done callback runs; its next item must not
    wait for a worker that has already stopped (this hung a request before)."""

    async def flush(items: list[int]) -> Sequence[int | BaseException]:
        return items

    writer: BatchWriter[int, int] = BatchWriter(flush, max_batch=10, name="test")
    assert await writer.submit(1) == 1
    async with asyncio.timeout(1):  # not wait_for: its new task would run after the callback
        assert await writer.submit(2) == 2

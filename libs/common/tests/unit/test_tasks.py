import asyncio
import contextlib

import pytest

from docflow.common.tasks import cancel_requested, stop_tasks

pytestmark = pytest.mark.unit


async def _swallows_cancellation_like_a_driver() -> None:
    """A loop whose awaited call absorbs the CancelledError, as PyMongo's can."""
    while not cancel_requested():
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(0.01)


async def test_a_loop_stops_even_when_the_cancellation_was_swallowed() -> None:
    task = asyncio.create_task(_swallows_cancellation_like_a_driver())
    await asyncio.sleep(0.05)
    await stop_tasks([task], timeout_s=2)
    assert task.done()


async def test_stop_tasks_with_nothing_to_stop_returns() -> None:
    await stop_tasks([], timeout_s=1)

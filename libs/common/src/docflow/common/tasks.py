"""Background tasks that stop when asked, even when a library swallows the cancellation.

PyMongo's async client can absorb a `CancelledError` that lands inside a command (the task
stays `cancelling` but the error never surfaces), so a loop that only relies on the error
keeps running and a shutdown that awaits it hangs. Loops check `cancel_requested()` and
shutdowns wait a bounded time.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection

logger = logging.getLogger(__name__)


def cancel_requested() -> bool:
    """True once the current task was asked to stop, whether or not the error surfaced."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


async def stop_tasks(tasks: Collection[asyncio.Task[None]], *, timeout_s: float) -> None:
    """Cancel the tasks and wait for them at most `timeout_s`; log those that did not stop."""
    for task in tasks:
        task.cancel()
    if not tasks:
        return
    _done, pending = await asyncio.wait(tasks, timeout=timeout_s)
    for task in pending:
        logger.warning("background task did not stop in time", extra={"task": task.get_name()})

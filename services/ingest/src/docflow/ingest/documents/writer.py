"""Coalescing concurrent writes into one bulk command ("natural batching").

FerretDB's SQLite backend serializes writes, so 50 concurrent `insert_one` calls run one after
another (about 250/s measured here), while one `insert_many` of 50 documents costs little more
than a single insert (several thousand documents/s). Callers submit one item each and await its
own result; whatever queued up while the previous command ran goes out in the next one. Under
light load a batch is one item and adds no delay.

A command runs in the trace of its batch's first item (not of whichever request started the
worker, which may drain many batches): under light load, exactly its own document's trace.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

from opentelemetry import context as otel_context

ItemT = TypeVar("ItemT")
ResultT = TypeVar("ResultT")

# For each item, in order: its result, or the exception that item alone failed with.
Flush = Callable[[list[ItemT]], Awaitable[Sequence[ResultT | BaseException]]]

logger = logging.getLogger(__name__)


class BatchWriter(Generic[ItemT, ResultT]):
    def __init__(
        self,
        flush: Flush[ItemT, ResultT],
        *,
        max_batch: int,
        name: str,
        max_in_flight: int = 1,
    ) -> None:
        self._flush = flush
        self._max_batch = max_batch
        self._name = name
        self._max_in_flight = max_in_flight
        self._pending: list[tuple[ItemT, asyncio.Future[ResultT], otel_context.Context]] = []
        self._workers: set[asyncio.Task[None]] = set()  # strong references until done
        # Workers still draining. Counted by the workers themselves: a finished task leaves
        # `_workers` only when its done callback runs, one loop step later, and an item queued
        # in between would otherwise wait for a worker that has already stopped looking.
        self._draining = 0

    async def submit(self, item: ItemT) -> ResultT:
        """Write `item` with whatever else is waiting; raises that item's own failure."""
        return await self._enqueue(item)

    def submit_nowait(self, item: ItemT) -> None:
        """Queue a write nobody waits for (failures are logged)."""
        future = self._enqueue(item)
        future.add_done_callback(self._log_failure)

    def _enqueue(self, item: ItemT) -> asyncio.Future[ResultT]:
        future: asyncio.Future[ResultT] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future, otel_context.get_current()))
        if self._draining < self._max_in_flight:
            self._draining += 1
            worker = asyncio.create_task(self._drain(), name=f"batch-writer-{self._name}")
            self._workers.add(worker)
            worker.add_done_callback(self._workers.discard)
        return future

    async def _drain(self) -> None:
        try:
            await self._drain_pending()
        finally:
            self._draining -= 1  # in the same step as the last look at `_pending`

    async def _drain_pending(self) -> None:
        while self._pending:
            batch = self._pending[: self._max_batch]
            del self._pending[: self._max_batch]
            token = otel_context.attach(batch[0][2])
            try:
                results = await self._flush([item for item, _, _ in batch])
            except BaseException as exc:  # the whole command failed: every item did
                for _, future, _ in batch:
                    if not future.done():
                        future.set_exception(exc)
                if isinstance(exc, asyncio.CancelledError):
                    raise
                continue
            finally:
                otel_context.detach(token)
            for (_, future, _), result in zip(batch, results, strict=True):
                if future.done():
                    continue
                if isinstance(result, BaseException):
                    future.set_exception(result)
                else:
                    future.set_result(result)

    def _log_failure(self, future: asyncio.Future[ResultT]) -> None:
        if not future.cancelled() and future.exception() is not None:
            logger.warning(
                "background write failed",
                extra={"writer": self._name, "error": type(future.exception()).__name__},
            )

    async def close(self) -> None:
        """Finish what is queued (called at shutdown)."""
        if self._workers:
            await asyncio.wait(set(self._workers), timeout=10)

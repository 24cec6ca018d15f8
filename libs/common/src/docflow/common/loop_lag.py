"""Event-loop lag: how late a timer fires, measured by a small task in every service.

A coroutine that blocks the loop (a CPU-bound parse, a synchronous call) delays every other
request and message of the process, and no latency histogram says which one did it. The task
sleeps `interval_s` and measures how much later than asked it wakes up: that delay is the time
the loop was busy with something else. Each tick costs one timer and a clock read.

Exported on `/metrics`: `docflow_event_loop_lag_seconds` (a histogram of every tick's delay) and
`docflow_event_loop_lag_max_seconds` (the worst delay of the last `window` ticks, for a quick
look at a stall without a `histogram_quantile`).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from prometheus_client import Gauge, Histogram

from docflow.common.tasks import cancel_requested, stop_tasks

EVENT_LOOP_LAG = Histogram(
    "docflow_event_loop_lag_seconds",
    "How late the event loop ran a timer: time it was busy with something else.",
    ["service"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
EVENT_LOOP_LAG_MAX = Gauge(
    "docflow_event_loop_lag_max_seconds",
    "The worst event-loop lag of the last ten seconds or so.",
    ["service"],
)

INTERVAL_S = 0.5
WINDOW = 20  # ticks: the gauge covers the last ~10 s, a Prometheus scrape interval
_STOP_S = 2.0


class LoopLagMonitor:
    """Records each tick's delay; `clock` and `sleep` are replaceable for unit tests."""

    def __init__(
        self,
        *,
        service: str,
        interval_s: float = INTERVAL_S,
        window: int = WINDOW,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.interval_s = interval_s
        self.clock = clock
        self.recent: deque[float] = deque(maxlen=window)
        self._histogram = EVENT_LOOP_LAG.labels(service)
        self._worst = EVENT_LOOP_LAG_MAX.labels(service)

    def record(self, lag_s: float) -> None:
        lag_s = max(lag_s, 0.0)  # a timer never fires early; clock jitter may say it did
        self.recent.append(lag_s)
        self._histogram.observe(lag_s)
        self._worst.set(max(self.recent))

    async def run(self) -> None:
        while not cancel_requested():
            expected = self.clock() + self.interval_s
            await asyncio.sleep(self.interval_s)
            self.record(self.clock() - expected)


def with_loop_lag(lifespan: Any, *, service: str) -> Any:
    """The service's lifespan, with the lag measured for as long as it runs."""

    @asynccontextmanager
    async def measured(app: Any) -> AsyncIterator[Any]:
        monitor = LoopLagMonitor(service=service)
        task = asyncio.create_task(monitor.run(), name="event-loop-lag")
        try:
            async with lifespan(app) as state:
                yield state
        finally:
            await stop_tasks([task], timeout_s=_STOP_S)

    return measured

"""The event-loop lag monitor: a blocked loop shows up as lag, on every service's /metrics."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from docflow.common.app import create_service_app
from docflow.common.loop_lag import LoopLagMonitor
from docflow.common.settings import CommonSettings
from docflow.testing import scrape

pytestmark = pytest.mark.unit


def test_the_gauge_holds_the_worst_lag_of_the_window_only() -> None:
    monitor = LoopLagMonitor(service="unit-window", window=3)
    for lag in (0.2, 0.01, 0.01):
        monitor.record(lag)
    assert max(monitor.recent) == pytest.approx(0.2)
    monitor.record(0.02)  # 0.2 falls out of the window
    assert max(monitor.recent) == pytest.approx(0.02)


def test_a_timer_that_seems_early_counts_as_no_lag() -> None:
    monitor = LoopLagMonitor(service="unit-early")
    monitor.record(-0.001)
    assert list(monitor.recent) == [0.0]


async def test_a_blocked_loop_is_measured() -> None:
    monitor = LoopLagMonitor(service="unit-blocked", interval_s=0.01)
    task = asyncio.create_task(monitor.run())
    await asyncio.sleep(0.03)
    time.sleep(0.2)  # noqa: ASYNC251 (blocks the loop on purpose, as a synchronous parse would)
    await asyncio.sleep(0.03)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert max(monitor.recent) >= 0.15


async def test_every_service_app_exports_its_loop_lag() -> None:
    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield

    settings = CommonSettings(service_name="unit-lag", rate_limit_enabled=False)
    app = create_service_app(
        settings=settings,
        title="unit",
        description="unit",
        lifespan=lifespan,
        health_checks=lambda _app: [],
    )
    async with LifespanManager(app):
        await asyncio.sleep(0.7)  # one tick of the default interval
        scraped = await scrape(app)
    assert scraped.value("docflow_event_loop_lag_seconds_count", service="unit-lag") >= 1
    assert scraped.has("docflow_event_loop_lag_max_seconds", service="unit-lag")

"""The provider's quota state: open, or closed by `insufficient_quota` until a probe succeeds.

Closed means: no call to the provider, nothing committed, nothing failed. A background task
probes every `interval` seconds with a cheap call and reopens the gate by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from docflow.analysis.metrics import PROVIDER_AVAILABLE

logger = logging.getLogger(__name__)


class QuotaGate:
    def __init__(self, *, probe: Callable[[], Awaitable[None]], interval_s: float) -> None:
        self._probe = probe
        self._interval_s = interval_s
        self._open = asyncio.Event()
        self._open.set()
        self._task: asyncio.Task[None] | None = None
        self.reason: str | None = None

    @property
    def is_open(self) -> bool:
        return self._open.is_set()

    def close(self, reason: str) -> None:
        if self.is_open:
            logger.error("provider quota exhausted; pausing analysis", extra={"reason": reason})
        self.reason = reason
        self._open.clear()
        PROVIDER_AVAILABLE.set(0)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._probe_until_open(), name="quota-probe")

    async def wait_open(self, timeout_s: float) -> bool:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._open.wait(), timeout=timeout_s)
        return self.is_open

    async def _probe_until_open(self) -> None:
        while not self.is_open:
            await asyncio.sleep(self._interval_s)
            try:
                await self._probe()
            except Exception as exc:
                logger.info("quota probe failed", extra={"error": type(exc).__name__})
                continue
            logger.warning("provider quota available again; resuming analysis")
            self.reason = None
            PROVIDER_AVAILABLE.set(1)
            self._open.set()

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

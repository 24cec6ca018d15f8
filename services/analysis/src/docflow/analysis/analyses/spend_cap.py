"""The global model-spend cap: LLM_SPEND_CAP_USD_PER_DAY, all tenants and replicas together.

Spend is the estimated cost (the settings' price table, with the Batch API factor) of what the
model answered, counted per UTC day in Redis by the tenant budgets' mechanism
(`{prefix}:analysis:spend:{YYYYMMDD}`, in USD). Once the day's spend reached the cap, no model
call starts: a real-time poll is held uncommitted in Kafka, as with an exhausted quota, and the
Batch API runner submits no batch job. Nothing is failed, deferred or dead-lettered; analysis
goes on by itself after 00:00 UTC, or once the replicas run with a higher cap.

The cap is checked before each poll and each batch job, so one poll per replica (or one batch
job) may overshoot it. If Redis is unreachable, each replica holds its own spend of the day
under the cap (at most replicas x cap in all), rather than stopping or running unbounded.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from redis.asyncio import Redis

from docflow.analysis.analyses.budget import DailyCounter, utc_day
from docflow.analysis.metrics import SPEND_CAP, SPEND_CAP_REACHED, SPEND_TODAY

logger = logging.getLogger(__name__)


def seconds_to_next_utc_day() -> float:
    now = datetime.now(UTC)
    midnight = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return (midnight - now).total_seconds() + 1.0  # a second past it: the new key is in use


class SpendCap:
    def __init__(self, *, redis: Redis, prefix: str, usd_per_day: float | None) -> None:
        self._spend = DailyCounter(redis=redis, prefix=prefix, name="spend")
        self.usd_per_day = usd_per_day
        self._own_day, self._own_usd = utc_day(), 0.0  # this replica's spend, if Redis is out
        self._reached = False
        SPEND_CAP.set(usd_per_day or 0)
        SPEND_CAP_REACHED.set(0)

    async def add(self, usd: float) -> None:
        """Count spend (negative: give back a reservation)."""
        if usd == 0 or self.usd_per_day is None:
            return
        self._own_usd = self._own_spend() + usd
        await self._spend.add(float(usd))

    async def release(self, usd: float, *, day: str) -> None:
        """Give back a reservation counted on `day`. One of an earlier day stays there: that
        day is over, and today counts the real cost."""
        if day == utc_day():
            await self.add(-usd)

    async def reached(self) -> bool:
        if self.usd_per_day is None:
            return False
        spent = await self._spend.read()
        if spent is None:
            spent = self._own_spend()
        SPEND_TODAY.set(spent)
        self._note(reached=spent >= self.usd_per_day, spent=spent)
        return self._reached

    async def wait_below(self, timeout_s: float) -> bool:
        """True at once while under the cap; otherwise waits `timeout_s` (or until the next UTC
        day, if sooner) and reads once more: one Redis read per wait, no spinning."""
        if not await self.reached():
            return True
        await asyncio.sleep(min(timeout_s, seconds_to_next_utc_day()))
        return not await self.reached()

    def _own_spend(self) -> float:
        if self._own_day != utc_day():
            self._own_day, self._own_usd = utc_day(), 0.0
        return self._own_usd

    def _note(self, *, reached: bool, spent: float) -> None:
        details = {"spent_usd": round(spent, 6), "cap_usd": self.usd_per_day}
        if reached and not self._reached:
            logger.error(
                "daily model spend cap reached; model calls wait until 00:00 UTC or a higher "
                "LLM_SPEND_CAP_USD_PER_DAY",
                extra=details,
            )
        elif self._reached and not reached:
            logger.warning("under the daily spend cap again; model calls resume", extra=details)
        self._reached = reached
        SPEND_CAP_REACHED.set(int(reached))

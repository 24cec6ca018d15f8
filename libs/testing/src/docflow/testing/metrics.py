"""A service's metrics read the way Prometheus reads them: `GET /metrics` on its operations app.

Counters are process-wide and tests share the process, so a test compares two scrapes (before
and after) or selects the series by labels that belong to it alone (its topics, its group).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from docflow.common.ops import operations_app


@dataclass(frozen=True, slots=True)
class Scrape:
    samples: list[Sample]

    def value(self, name: str, **labels: str) -> float:
        """The sum of the samples named `name` whose labels include `labels` (0 if none)."""
        return sum(
            sample.value
            for sample in self.samples
            if sample.name == name and labels.items() <= sample.labels.items()
        )

    def has(self, name: str, **labels: str) -> bool:
        return any(
            sample.name == name and labels.items() <= sample.labels.items()
            for sample in self.samples
        )


async def scrape(app: FastAPI) -> Scrape:
    """The service app's metrics, through its operations app's `/metrics`."""
    transport = httpx.ASGITransport(app=operations_app(app))
    async with httpx.AsyncClient(transport=transport, base_url="http://ops") as ops:
        response = await ops.get("/metrics")
    response.raise_for_status()
    families = text_string_to_metric_families(response.text)
    return Scrape([sample for family in families for sample in family.samples])


async def scrape_until(
    app: FastAPI, condition: Callable[[Scrape], bool], *, timeout_s: float = 20.0
) -> Scrape:
    """Scrape until `condition` holds (for values a background loop sets); fail at timeout."""
    deadline = time.monotonic() + timeout_s
    while True:
        current = await scrape(app)
        if condition(current) or time.monotonic() > deadline:
            assert condition(current), "the metrics never met the condition"
            return current
        await asyncio.sleep(0.2)

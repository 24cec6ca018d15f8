"""Ingest's operator metrics, read from its operations app's /metrics as Prometheus reads them:
extraction time by file type, the outbox backlog, dead letters by error type, consumer lag,
readiness."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI

from docflow.common.events import Topic
from docflow.common.ops import operations_app
from docflow.ingest.settings import IngestSettings
from docflow.testing import Isolation, collect_messages, produce_raw, scrape, scrape_until

pytestmark = pytest.mark.integration


@pytest.fixture
def settings(isolation: Isolation) -> IngestSettings:
    # The lag is read every 0.2 s here (15 s by default), so the test sees it promptly.
    return IngestSettings(
        outbox_sweep_interval_s=0.2,
        incoming_batch_timeout_ms=100,
        consumer_lag_interval_s=0.2,
    )


EXTRACTED = "docflow_ingest_extraction_duration_seconds_count"


async def test_an_upload_is_timed_by_its_file_type(app: FastAPI, client: httpx.AsyncClient) -> None:
    before = await scrape(app)
    response = await client.post(
        "/v1/documents/upload",
        files={"file": ("notes.md", b"# Notes\n\nMetrics for operators.", "text/markdown")},
    )
    assert response.is_success, response.text

    after = await scrape(app)
    labels = {"file_type": "md", "outcome": "ok"}
    assert after.value(EXTRACTED, **labels) == before.value(EXTRACTED, **labels) + 1


async def test_the_outbox_backlog_drains_to_zero(
    app: FastAPI, client: httpx.AsyncClient, settled: Any
) -> None:
    response = await client.post("/v1/documents", json={"content": "A document to publish."})
    assert response.is_success, response.text
    assert await settled()

    current = await scrape_until(
        app,
        lambda s: (
            s.has("docflow_ingest_outbox_backlog")
            and s.value("docflow_ingest_outbox_oldest_age_seconds") == 0
        ),
    )
    assert current.value("docflow_ingest_outbox_backlog") == 0


async def test_dead_letters_are_counted_by_source_topic_and_error_type(
    app: FastAPI, isolation: Isolation
) -> None:
    incoming = isolation.topic(Topic.INCOMING)
    labels = {"service": "ingest", "source_topic": incoming, "error_type": "invalid_json"}
    await produce_raw(incoming, [b'{"content": "unterminated', orjson.dumps({"content": "Fine."})])

    assert await collect_messages(isolation.topic(Topic.DLQ), count=1, timeout_s=30)
    current = await scrape_until(app, lambda s: s.value("docflow_dead_letters_total", **labels) > 0)
    assert current.value("docflow_dead_letters_total", **labels) == 1


async def test_the_consumer_lag_of_its_group_is_exported_per_partition(
    app: FastAPI, isolation: Isolation, settings: IngestSettings
) -> None:
    incoming = isolation.topic(Topic.INCOMING)
    group = settings.consumer_group
    await produce_raw(incoming, [orjson.dumps({"content": f"Lag test {i}."}) for i in range(3)])

    def caught_up(scrape: Any) -> bool:
        lags = [
            sample
            for sample in scrape.samples
            if sample.name == "docflow_kafka_consumer_lag" and sample.labels["group"] == group
        ]
        return len(lags) == settings.kafka_topic_partitions and all(s.value == 0 for s in lags)

    current = await scrape_until(app, caught_up, timeout_s=30)
    assert {
        sample.labels["topic"]
        for sample in current.samples
        if sample.name == "docflow_kafka_consumer_lag" and sample.labels["group"] == group
    } == {incoming}


async def test_readiness_is_exported_as_a_gauge(app: FastAPI) -> None:
    transport = httpx.ASGITransport(app=operations_app(app))
    async with httpx.AsyncClient(transport=transport, base_url="http://ops") as ops:
        assert (await ops.get("/health/ready")).status_code == 200
    assert (await scrape(app)).value("docflow_ready", service="ingest") == 1

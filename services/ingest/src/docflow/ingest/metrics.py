"""The ingest service's Prometheus metrics: the outbox and the extraction of uploads."""

from __future__ import annotations

from prometheus_client import Gauge, Histogram

OUTBOX_BACKLOG = Gauge(
    "docflow_ingest_outbox_backlog",
    "Documents stored but whose DocumentIngested Kafka has not acknowledged yet (this replica).",
)
OUTBOX_OLDEST_AGE = Gauge(
    "docflow_ingest_outbox_oldest_age_seconds",
    "Age of the oldest stored document still waiting for its event (0 when none waits).",
)
EXTRACTION_DURATION = Histogram(
    "docflow_ingest_extraction_duration_seconds",
    "Time a worker took to extract an upload's text, by file type and outcome "
    "(ok, rejected, timeout, crashed, error).",
    ["file_type", "outcome"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)

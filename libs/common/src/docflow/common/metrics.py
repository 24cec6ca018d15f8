"""Prometheus metrics shared by every service, and the `/metrics` endpoint.

Labels stay bounded: routes are templates, topics and groups come from the settings, error
types are the services' own codes. No tenant and no document id is ever a label.
"""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest
from starlette.requests import Request
from starlette.responses import Response

HTTP_REQUESTS = Counter(
    "docflow_http_requests_total",
    "HTTP requests answered, by route template and status.",
    ["service", "method", "route", "status"],
)
HTTP_LATENCY = Histogram(
    "docflow_http_request_duration_seconds",
    "Time to answer an HTTP request.",
    ["service", "method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
KAFKA_MESSAGES = Counter(
    "docflow_kafka_messages_total",
    "Kafka messages handled, by topic and outcome (processed, dead_lettered, redelivered).",
    ["service", "topic", "outcome"],
)

DEAD_LETTERS = Counter(
    "docflow_dead_letters_total",
    "Messages sent to the dead-letter topic, by the topic they came from and the error type.",
    ["service", "source_topic", "error_type"],
)
CONSUMER_LAG = Gauge(
    "docflow_kafka_consumer_lag",
    "Messages not yet committed by a consumer group: log end offset minus committed offset.",
    ["group", "topic", "partition"],
)
CONSUMER_LAG_UPDATED = Gauge(
    "docflow_kafka_consumer_lag_updated_timestamp_seconds",
    "When the consumer lag of a group was last read from Kafka (Unix time).",
    ["group"],
)
READY = Gauge(
    "docflow_ready",
    "1 while the service's readiness check passes, 0 while it fails (as of its last probe).",
    ["service"],
)
READINESS_CHANGES = Counter(
    "docflow_readiness_changes_total",
    "Times the readiness check's answer changed (ready to not ready or back).",
    ["service"],
)


async def metrics_endpoint(request: Request) -> Response:
    """Prometheus text format (not enveloped: scrapers expect the raw format)."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

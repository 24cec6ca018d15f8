"""Prometheus metrics shared by every service, and the `/metrics` endpoint."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
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


async def metrics_endpoint(request: Request) -> Response:
    """Prometheus text format (not enveloped: scrapers expect the raw format)."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

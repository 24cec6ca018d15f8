"""The analysis service's Prometheus metrics: tokens and money by model, requests by outcome,
429s, and how full each request is.

No tenant label: tenants are unbounded (a label each would grow the series without limit) and
their names are not for whoever reads the operations port. Per-tenant spend is in MongoDB
(`cost_usd` on each analysis) and in the Redis budgets."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

TOKENS = Counter(
    "docflow_analysis_tokens_total",
    "Tokens used by the provider, by model and kind (prompt, completion).",
    ["model", "kind"],
)
COST = Counter(
    "docflow_analysis_cost_usd_total",
    "Estimated cost in USD (settings' price table), by model.",
    ["model"],
)
REQUESTS = Counter(
    "docflow_analysis_provider_requests_total",
    "Provider requests by outcome (ok, invalid, rate_limited, quota, server_error, timeout, "
    "connection_error, client_error, auth_error): every outcome but ok is an error by type.",
    ["model", "outcome"],
)
REQUEST_DURATION = Histogram(
    "docflow_analysis_provider_request_duration_seconds",
    "Time from sending a provider request to its answer or failure, by model.",
    ["model"],
    buckets=(0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120),
)
RATE_LIMITED = Counter(
    "docflow_analysis_rate_limited_total",
    "429 answers by kind (rate_limit_exceeded, insufficient_quota).",
    ["kind"],
)
DOCUMENTS_PER_REQUEST = Histogram(
    "docflow_analysis_documents_per_request",
    "Documents packed into one provider request.",
    buckets=(1, 2, 4, 8, 12, 16, 24, 32, 50, 100),
)
DOCUMENTS = Counter(
    "docflow_analysis_documents_total",
    "Documents handled, by outcome (analyzed, reused, skipped, failed, deferred, dead_lettered).",
    ["outcome"],
)
PROVIDER_AVAILABLE = Gauge(
    "docflow_analysis_provider_available",
    "1 while the provider accepts calls, 0 while its quota is exhausted.",
)
PROVIDER_AVAILABLE.set(1)
SPEND_TODAY = Gauge(
    "docflow_analysis_spend_today_usd",
    "Estimated model spend of the current UTC day, all tenants and replicas (as last read).",
)
SPEND_CAP = Gauge(
    "docflow_analysis_spend_cap_usd",
    "LLM_SPEND_CAP_USD_PER_DAY (0: no cap).",
)
SPEND_CAP_REACHED = Gauge(
    "docflow_analysis_spend_cap_reached",
    "1 while the day's spend reached the cap and model calls wait, else 0.",
)

"""OpenTelemetry tracing, off by default (`OTEL_ENABLED=true` turns it on).

Spans go to the console exporter unless the standard `OTEL_EXPORTER_*` variables and an
exporter package are present; the trace context then joins the correlation id in the logs.
"""

from __future__ import annotations

from fastapi import FastAPI

from docflow.common.settings import CommonSettings


def instrument_app(app: FastAPI, settings: CommonSettings) -> None:
    if not settings.otel_enabled:
        return
    from opentelemetry import trace
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

    provider = TracerProvider(resource=Resource.create({"service.name": settings.service_name}))
    provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    trace.set_tracer_provider(provider)
    FastAPIInstrumentor.instrument_app(
        app, tracer_provider=provider, excluded_urls="/health.*,/metrics"
    )

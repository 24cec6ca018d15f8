"""OpenTelemetry tracing, configured by the standard `OTEL_*` variables.

Tracing is on in a process when an OTLP endpoint is set (`OTEL_EXPORTER_OTLP_ENDPOINT` or
`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) and `OTEL_SDK_DISABLED` is not true. `make run` points the
services at its local Jaeger; tests and bare runs set nothing, so nothing is installed and the
hot paths pay nothing. Everything else is the SDK's own reading of the variables: the protocol
(`OTEL_EXPORTER_OTLP_PROTOCOL`, http/protobuf by default, or grpc), headers, certificates,
`OTEL_TRACES_SAMPLER`/`_ARG`, `OTEL_RESOURCE_ATTRIBUTES`. `OTEL_SERVICE_NAME` defaults to
`docflow-<service>`. An export gives up after 2 s unless `OTEL_EXPORTER_OTLP_TIMEOUT` says
otherwise (the SDK's 10 s would hold a stopping service that long when the collector is gone).

What is traced: HTTP requests (FastAPI, outermost, so the lanes' requests get the same server
spans as routed ones), FastStream's subscribers and publishers (`KafkaTelemetryMiddleware`),
MongoDB commands, Redis commands, the OpenAI client (GenAI conventions; where installed), and the
raw producer in publishing.py, whose record batches no instrumentation covers. W3C
`traceparent`/`tracestate` travel in Kafka headers, so one document is one trace.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from dotenv import dotenv_values
from fastapi import FastAPI
from faststream.kafka.opentelemetry import KafkaTelemetryMiddleware
from opentelemetry import context, propagate, trace
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.trace import Link, Span, SpanKind

from docflow.common.settings import CommonSettings

logger = logging.getLogger(__name__)

SERVICE_NAME_PREFIX = "docflow-"
TRACE_HEADERS = ("traceparent", "tracestate")
# W3C trace context as Kafka headers: (name, value) pairs, what aiokafka's records hold.
TraceHeaders = tuple[tuple[str, bytes], ...]
_ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
_TIMEOUT_VARIABLES = ("OTEL_EXPORTER_OTLP_TIMEOUT", "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT")
_EXPORT_TIMEOUT_S = 2.0
_UNTRACED_URLS = "/health.*,/metrics"

_provider: TracerProvider | None = None


def tracing_requested(environ: Mapping[str, str]) -> bool:
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    return any(environ.get(name, "").strip() for name in _ENDPOINT_VARIABLES)


def service_name(settings: CommonSettings, environ: Mapping[str, str]) -> str:
    return environ.get("OTEL_SERVICE_NAME") or SERVICE_NAME_PREFIX + settings.service_name


def configure_tracing(settings: CommonSettings) -> TracerProvider | None:
    """Once per process, before the app is built: the provider, its exporter and the library
    instrumentations. None (and nothing installed) when tracing is off."""
    global _provider
    _adopt_dotenv(settings)
    if _provider is not None or not tracing_requested(os.environ):
        return _provider
    resource = Resource.create({SERVICE_NAME: service_name(settings, os.environ)})
    provider = TracerProvider(resource=resource)  # the sampler comes from OTEL_TRACES_SAMPLER
    provider.add_span_processor(BatchSpanProcessor(_exporter()))
    trace.set_tracer_provider(provider)
    _instrument_libraries(provider)
    _provider = provider
    logger.info("tracing on", extra={"otel_service_name": resource.attributes[SERVICE_NAME]})
    return provider


def shutdown_tracing() -> None:
    """Export what is buffered and stop the exporter (at the process's end)."""
    global _provider
    if _provider is not None:
        _provider.shutdown()
        _provider = None


def instrument_app(app: FastAPI, settings: CommonSettings) -> None:
    """Server spans for every request to `app` (liveness and metrics aside)."""
    if _provider is None:
        return
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    # It wraps the whole middleware stack it builds, so it runs before the lanes (lanes.py).
    FastAPIInstrumentor.instrument_app(app, tracer_provider=_provider, excluded_urls=_UNTRACED_URLS)


def broker_middlewares() -> tuple[KafkaTelemetryMiddleware, ...]:
    """FastStream's telemetry for a broker's subscribers and publishers, when tracing is on."""
    if _provider is None:
        return ()
    return (KafkaTelemetryMiddleware(tracer_provider=_provider),)


def current_trace_headers() -> TraceHeaders:
    """The current span's W3C context as Kafka headers; empty outside any span (tracing off)."""
    if not trace.get_current_span().get_span_context().is_valid:
        return ()
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return tuple((name, carrier[name].encode()) for name in TRACE_HEADERS if name in carrier)


def context_from_headers(headers: Sequence[tuple[str, bytes | None]] | None) -> context.Context:
    """The trace context a Kafka record carries (an empty one when it carries none)."""
    carrier = {
        name: value.decode("latin-1")
        for name, value in headers or ()
        if name in TRACE_HEADERS and value is not None
    }
    return propagate.extract(carrier) if carrier else context.Context()


def record_span(tracer: trace.Tracer, record: Any) -> Span:
    """A consumer span for one record of a polled batch, in the trace its producer started.

    FastStream's batch subscriber gives the whole poll one span in a trace of its own; this
    span continues the document's trace and links back to that poll span.
    """
    poll = trace.get_current_span().get_span_context()
    return tracer.start_span(
        f"{record.topic} process",
        context=context_from_headers(record.headers),
        kind=SpanKind.CONSUMER,
        links=[Link(poll)] if poll.is_valid else None,
        attributes={
            "messaging.system": "kafka",
            "messaging.operation.type": "process",
            "messaging.destination.name": record.topic,
            "messaging.destination.partition.id": str(record.partition),
            "messaging.kafka.offset": record.offset,
        },
    )


@contextmanager
def traced_record(tracer: trace.Tracer, record: Any) -> Iterator[Span]:
    """Handle one record of a batch under its own consumer span (see `record_span`)."""
    span = record_span(tracer, record)
    with trace.use_span(span, end_on_exit=True):
        yield span


@contextmanager
def untraced() -> Iterator[None]:
    """Housekeeping that runs every few seconds (readiness probes, the outbox sweep): its
    MongoDB and Redis commands would each be a one-span trace, burying the documents' traces."""
    with suppress_instrumentation():
        yield


def _adopt_dotenv(settings: CommonSettings) -> None:
    """The SDK reads only the environment; settings come from `.env` too (the environment
    wins), so the `OTEL_*` entries of the settings' `.env` join the environment."""
    env_file = settings.model_config.get("env_file")
    if not isinstance(env_file, str) or not os.path.isfile(env_file):
        return
    for name, value in dotenv_values(env_file).items():
        if name.startswith("OTEL_") and value is not None and name not in os.environ:
            os.environ[name] = value


def _exporter() -> SpanExporter:
    protocol = os.environ.get(
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "")
    ).strip()
    timeout = None if any(name in os.environ for name in _TIMEOUT_VARIABLES) else _EXPORT_TIMEOUT_S
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
            OTLPSpanExporter as GrpcExporter,
        )

        return GrpcExporter(timeout=timeout)
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter(timeout=timeout)


def _instrument_libraries(provider: TracerProvider) -> None:
    from opentelemetry.instrumentation.pymongo import PymongoInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor

    PymongoInstrumentor().instrument(tracer_provider=provider)
    RedisInstrumentor().instrument(tracer_provider=provider)
    # The analysis service's client; message contents only with
    # OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true.
    if importlib.util.find_spec("openai") and importlib.util.find_spec(
        "opentelemetry.instrumentation.openai_v2"
    ):
        from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor

        OpenAIInstrumentor().instrument(tracer_provider=provider)  # type: ignore[no-untyped-call]

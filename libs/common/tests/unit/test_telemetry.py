"""Tracing: when it is on, what the services are called, and the W3C context through the raw
producer's record headers and batch subscribers (a lane's server span: test_lanes.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from docflow.common import telemetry
from docflow.common.events import DocumentIngested
from docflow.common.publishing import EventPublisher, OutgoingEvent
from docflow.common.settings import CommonSettings

pytestmark = pytest.mark.unit

CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"
TRACEPARENT = f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def provider(exporter: InMemorySpanExporter) -> Iterator[TracerProvider]:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider
    provider.shutdown()


def test_tracing_is_on_only_with_an_endpoint_and_not_disabled() -> None:
    endpoint = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}
    assert not telemetry.tracing_requested({})
    assert telemetry.tracing_requested(endpoint)
    assert telemetry.tracing_requested({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318"})
    assert not telemetry.tracing_requested({**endpoint, "OTEL_SDK_DISABLED": "true"})


def test_service_names_follow_the_contract_unless_otel_service_name_is_set() -> None:
    settings = CommonSettings(service_name="ingest")
    assert telemetry.service_name(settings, {}) == "docflow-ingest"
    assert telemetry.service_name(settings, {"OTEL_SERVICE_NAME": "mine"}) == "mine"


def test_nothing_is_installed_while_tracing_is_off() -> None:
    assert telemetry.broker_middlewares() == ()


@dataclass
class FakeBatch:
    records: list[tuple[Any, ...]] = field(default_factory=list)

    def append(self, *, key: bytes, value: bytes, timestamp: None, headers: Any) -> object:
        self.records.append((key, value, headers))
        return object()


@dataclass
class FakeProducer:
    """The three calls EventPublisher makes of aiokafka's producer."""

    sent: list[FakeBatch] = field(default_factory=list)

    async def partitions_for(self, topic: str) -> set[int]:
        return {0}

    def create_batch(self) -> FakeBatch:
        return FakeBatch()

    async def send_batch(self, batch: FakeBatch, topic: str, *, partition: int) -> Any:
        self.sent.append(batch)
        future = asyncio.get_running_loop().create_future()
        future.set_result(None)
        return future


async def test_the_raw_producer_sends_each_event_in_its_documents_trace(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    producer = FakeProducer()
    publisher = EventPublisher(
        producer,
        topic="documents.ingested",
        timeout_s=5,
        tracer_provider=provider,
    )
    event = DocumentIngested(document_id="d1", tenant_id="t", content_hash="h")
    stored_under = ((telemetry.TRACE_HEADERS[0], TRACEPARENT.encode()),)
    untraced = DocumentIngested(document_id="d2", tenant_id="t", content_hash="h2")

    assert await publisher.publish_many(
        [OutgoingEvent(event, "r1", stored_under), OutgoingEvent(untraced, "r2")]
    ) == [True, True]

    [batch] = producer.sent
    traced_headers, untraced_headers = (dict(record[2]) for record in batch.records)
    [span] = exporter.get_finished_spans()
    assert span.kind is trace.SpanKind.PRODUCER
    assert span.name == "documents.ingested publish"
    assert span.parent is not None
    assert format(span.parent.span_id, "016x") == CALLER_SPAN
    assert traced_headers["traceparent"].decode() == (
        f"00-{CALLER_TRACE}-{format(span.context.span_id, '016x')}-01"
    )
    assert "traceparent" not in untraced_headers


def test_a_record_of_a_batch_is_handled_in_its_producers_trace_linked_to_the_poll(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    tracer = provider.get_tracer("test")

    @dataclass
    class Record:
        topic: str = "documents.ingested"
        partition: int = 3
        offset: int = 42
        headers: tuple[tuple[str, bytes], ...] = (("traceparent", TRACEPARENT.encode()),)

    with tracer.start_as_current_span("poll") as poll, telemetry.traced_record(tracer, Record()):
        inner = telemetry.current_trace_headers()
    record_span = next(s for s in exporter.get_finished_spans() if s.name.endswith("process"))
    assert record_span.kind is trace.SpanKind.CONSUMER
    assert format(record_span.context.trace_id, "032x") == CALLER_TRACE
    assert record_span.parent is not None
    assert format(record_span.parent.span_id, "016x") == CALLER_SPAN
    assert [link.context.span_id for link in record_span.links] == [poll.get_span_context().span_id]
    assert dict(inner)["traceparent"].decode().split("-")[1] == CALLER_TRACE
    assert telemetry.current_trace_headers() == ()  # outside any span

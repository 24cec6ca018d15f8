"""The OpenAI client's instrumentation loads and installs (configure_tracing does it when an
OTLP endpoint is set; a broken release of its helper library once made that fail at startup)."""

from __future__ import annotations

import pytest
from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor
from opentelemetry.sdk.trace import TracerProvider

pytestmark = pytest.mark.unit


def test_the_openai_client_can_be_instrumented() -> None:
    instrumentor = OpenAIInstrumentor()  # type: ignore[no-untyped-call]
    instrumentor.instrument(tracer_provider=TracerProvider())
    try:
        assert instrumentor.is_instrumented_by_opentelemetry
    finally:
        instrumentor.uninstrument()

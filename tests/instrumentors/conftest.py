"""Fixtures for botanu's instrumentors: a loopback HTTP server and a local SDK pipeline."""

from __future__ import annotations

import http.client
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry import propagate
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

# The wheel maps instrumentors/botanu_instrumentation to a top-level package; from a
# source checkout it is importable once its parent directory is on the path.
_INSTRUMENTORS = Path(__file__).resolve().parents[2] / "instrumentors"
if str(_INSTRUMENTORS) not in sys.path:
    sys.path.insert(0, str(_INSTRUMENTORS))

from botanu_instrumentation.http_client import HTTPClientInstrumentor  # noqa: E402

from ._loopback import LoopbackServer  # noqa: E402


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    """A fresh server per test, so a late request from one test never shows up in the next."""
    loopback = LoopbackServer()
    yield loopback
    loopback.stop()


@pytest.fixture
def provider() -> TracerProvider:
    return TracerProvider()


@pytest.fixture
def exporter(provider: TracerProvider) -> InMemorySpanExporter:
    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    return memory


@pytest.fixture(autouse=True)
def _w3c_propagation() -> Iterator[None]:
    """Pin W3C trace context + baggage, whatever other tests did to the global propagator."""
    previous = propagate.get_global_textmap()
    propagate.set_global_textmap(
        CompositePropagator([TraceContextTextMapPropagator(), W3CBaggagePropagator()])
    )
    yield
    propagate.set_global_textmap(previous)


@pytest.fixture(autouse=True)
def _http_client_left_pristine() -> Iterator[None]:
    """Every test must leave http.client unpatched, or later tests elsewhere would be traced."""
    yield
    # wrapt proxies (of any wrapt version) expose __wrapped__; of http.client's own
    # attributes only its static methods do.
    patched = [
        name
        for name, value in vars(http.client.HTTPConnection).items()
        if hasattr(value, "__wrapped__") and not isinstance(value, staticmethod | classmethod)
    ]
    assert patched == [], f"http.client.HTTPConnection still wrapped: {patched}"


@pytest.fixture
def instrumented(provider: TracerProvider, exporter: InMemorySpanExporter) -> Iterator[InMemorySpanExporter]:
    """http.client instrumented with the local provider; always uninstrumented afterwards."""
    instrumentor = HTTPClientInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    try:
        yield exporter
    finally:
        instrumentor.uninstrument()

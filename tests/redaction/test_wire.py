"""Wire level: what actually reaches a collector over OTLP/HTTP contains no secret.

A real SDK TracerProvider exports through RedactingSpanProcessor -> BatchSpanProcessor ->
the stock OTLP/HTTP exporter to a loopback receiver. Both the decoded spans and the raw
(decompressed) request bodies are searched for every corpus secret.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry import trace as trace_api
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Status, StatusCode

from botanu.redaction import RedactingSpanProcessor, Redactor, redaction_stats
from tests.support.otlp_receiver import OTLPReceiver, ReceivedSpan

from .corpus import LOOKALIKES, NON_SENSITIVE_KEYS, SECRETS, all_needles, leaked, placements


@pytest.fixture
def provider(receiver: OTLPReceiver) -> Iterator[TracerProvider]:
    provider = TracerProvider(resource=Resource.create({"service.name": "wire-test"}))
    # gzip, as botanu exports: the receiver's raw_bodies() are the decompressed payloads.
    exporter = OTLPSpanExporter(endpoint=receiver.endpoint, timeout=5, compression=Compression.Gzip)
    provider.add_span_processor(RedactingSpanProcessor(BatchSpanProcessor(exporter), Redactor()))
    yield provider
    provider.shutdown()


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, bytes):
        yield value.decode("utf-8", "replace")
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _strings(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _strings(item)


def _everything(span: ReceivedSpan) -> str:
    parts = [span.name, span.status_message, *_strings(span.attributes), *_strings(span.resource)]
    for name, attributes in span.events:
        parts.append(name)
        parts.extend(_strings(attributes))
    for _, _, attributes in span.links:
        parts.extend(_strings(attributes))
    return "\n".join(parts)


def _emit_secret_spans(provider: TracerProvider) -> int:
    tracer = provider.get_tracer("wire")
    with tracer.start_as_current_span("anchor") as anchor:
        pass
    count = 1
    for secret in SECRETS:
        shapes = placements(secret)
        link = trace_api.Link(anchor.get_span_context(), {f"link.{k}": v for k, v in shapes.items()})
        with tracer.start_as_current_span(secret.text, links=[link]) as span:
            span.set_attributes({f"app.{k}": v for k, v in shapes.items()})
            span.set_attribute("app.list", (secret.text, "ordinary"))
            span.set_attribute("app.bytes", secret.text.encode())
            span.set_attribute("botanu.input", shapes["json"])
            span.set_attribute("password", secret.needle)  # by key name, whatever the value
            span.add_event("retry", {f"event.{k}": v for k, v in shapes.items()})
            try:
                raise ConnectionError(f"upstream rejected {secret.text}")
            except ConnectionError as error:
                span.record_exception(error)
            span.set_status(Status(StatusCode.ERROR, shapes["free_text"]))
        count += 1
    return count


def test_no_secret_reaches_the_collector(provider: TracerProvider, receiver: OTLPReceiver) -> None:
    expected = _emit_secret_spans(provider)
    assert provider.force_flush(10_000)
    spans = receiver.wait_for_spans(expected)
    assert len(spans) == expected

    needles = all_needles()
    decoded = "\n\n".join(_everything(span) for span in spans)
    assert leaked(needles, decoded) == []
    raw = b"".join(receiver.raw_bodies())
    assert raw and leaked(needles, raw) == []
    assert all(r.headers.get("content-encoding") == "gzip" for r in receiver.requests)

    redacted = [s for s in spans if s.name != "anchor"]
    for span in redacted:
        assert span.attributes["botanu.redaction.count"] >= 10
        assert "key:password" in span.attributes["botanu.redaction.rules"]
        assert span.status_code == "ERROR"
        assert span.events[1][0] == "exception"
        assert span.events[1][1]["exception.type"] == "ConnectionError"
    stats = redaction_stats()
    assert (
        stats["spans_seen"] == expected and stats["spans_changed"] == expected - 1 and stats["failures"] == 0
    )


def test_lookalikes_arrive_unchanged(provider: TracerProvider, receiver: OTLPReceiver) -> None:
    tracer = provider.get_tracer("wire")
    with tracer.start_as_current_span("anchor") as anchor:
        pass
    lookalikes = {f"app.lookalike.{i}": text for i, text in enumerate(LOOKALIKES)}
    named = {key: "ordinary value 42" for key in NON_SENSITIVE_KEYS}
    link = trace_api.Link(anchor.get_span_context(), lookalikes)
    with tracer.start_as_current_span("GET /v1/orders/{id}", links=[link]) as span:
        span.set_attributes(lookalikes)
        span.set_attributes(named)
        span.set_attribute("llm.usage.total_tokens", 1234)
        span.add_event("lookalikes", lookalikes)
        span.set_status(Status(StatusCode.ERROR, "password reset page returned 500"))
    assert provider.force_flush(10_000)
    received = receiver.wait_for_spans(2)
    span_out = next(s for s in received if s.name == "GET /v1/orders/{id}")
    assert {k: span_out.attributes[k] for k in lookalikes} == lookalikes
    assert {k: span_out.attributes[k] for k in named} == named
    assert span_out.attributes["llm.usage.total_tokens"] == 1234
    assert "botanu.redaction.count" not in span_out.attributes
    assert span_out.events == [("lookalikes", lookalikes)]
    assert span_out.links[0][2] == lookalikes
    assert span_out.status_message == "password reset page returned 500"

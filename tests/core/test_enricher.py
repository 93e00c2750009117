"""The run enricher writes run attributes directly only where the SDK would store them unchanged."""

from __future__ import annotations

from opentelemetry import baggage, context
from opentelemetry.sdk.trace import SpanLimits, TracerProvider

from botanu.context._enricher import RunEnricher

ENTRIES = {"botanu.run_id": "0190c7a4-7c1e-7000-8000-000000000001", "botanu.workflow": "Refund", "other": "x"}


def _run_context() -> context.Context:
    ctx = context.Context()
    for key, value in ENTRIES.items():
        ctx = baggage.set_baggage(key, value, context=ctx)
    return ctx


def _span(limits: SpanLimits | None = None, attributes: dict | None = None):
    provider = TracerProvider(span_limits=limits) if limits else TracerProvider()
    provider.add_span_processor(RunEnricher())
    return provider.get_tracer("app").start_span("work", context=_run_context(), attributes=attributes)


def test_run_entries_are_added_after_the_spans_own_and_do_not_replace_them():
    span = _span(attributes={"a": 1, "botanu.workflow": "set by the app"})
    assert list(span.attributes) == ["a", "botanu.workflow", "botanu.run_id"]
    assert span.attributes["botanu.workflow"] == "set by the app"
    assert "other" not in span.attributes
    span.set_attribute("later", True)  # the span stays an ordinary, writable SDK span
    span.end()
    assert span.attributes["later"] is True
    assert span.dropped_attributes == 0


def test_a_value_length_limit_truncates_run_entries_as_the_sdk_would():
    span = _span(SpanLimits(max_span_attribute_length=4))
    assert span.attributes["botanu.workflow"] == "Refu"
    assert span.attributes["botanu.run_id"] == "0190"


def test_an_attribute_count_limit_drops_as_the_sdk_would():
    span = _span(SpanLimits(max_span_attributes=2), attributes={"a": 1, "b": 2})
    # The SDK keeps the newest attributes and counts what it dropped.
    assert dict(span.attributes) == {"botanu.workflow": "Refund", "botanu.run_id": ENTRIES["botanu.run_id"]}
    assert span.dropped_attributes == 2

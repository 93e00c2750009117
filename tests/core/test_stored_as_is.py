"""Attributes stored directly on a live span end up exactly as ``set_attributes`` would store them."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.trace import SpanLimits, TracerProvider

from botanu.context._attributes import stored_as_is

keys = st.one_of(st.sampled_from(["a", "b", "botanu.run_id", ""]), st.text(max_size=8), st.integers())
scalars = st.one_of(
    st.text(max_size=20),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    st.booleans(),
    st.none(),
    st.binary(max_size=4),
)
values = st.one_of(
    scalars,
    st.lists(st.text(max_size=5), max_size=3),
    st.lists(scalars, max_size=3).map(tuple),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
maps = st.dictionaries(keys, values, max_size=6)


def _twins(limits: SpanLimits | None = None, start: dict | None = None):
    provider = TracerProvider(span_limits=limits) if limits else TracerProvider()
    tracer = provider.get_tracer("t")
    return tracer.start_span("one", attributes=start), tracer.start_span("two", attributes=start)


@settings(max_examples=300, deadline=None)
@given(start=st.dictionaries(st.sampled_from(["a", "b", "c"]), st.text(max_size=5), max_size=3), new=maps)
def test_stored_directly_or_not_at_all(start: dict, new: dict[Any, Any]) -> None:
    for only_missing in (False, True):
        direct, public = _twins(start=start)
        if stored_as_is(direct, new, only_missing=only_missing):
            expected = {k: v for k, v in new.items() if k not in start} if only_missing else new
            public.set_attributes(expected)
            assert list(direct.attributes.items()) == list(public.attributes.items())
            assert direct.dropped_attributes == public.dropped_attributes == 0
        else:
            assert dict(direct.attributes) == dict(public.attributes)  # nothing was stored


def test_common_values_take_the_direct_route() -> None:
    span, _ = _twins()
    response = {"id": "chatcmpl-1", "tokens": 12, "cost": 0.5, "ok": True, "reasons": ["stop"]}
    assert stored_as_is(span, response)
    assert span.attributes["reasons"] == ("stop",)


def test_where_the_sdk_would_change_or_refuse_a_value_nothing_is_stored() -> None:
    for attributes in ({"": "x"}, {"a": None}, {"a": []}, {"a": ["x", 1]}, {"a": b"x"}, {1: "x"}):
        span, _ = _twins()
        assert not stored_as_is(span, attributes)
        assert not span.attributes


def test_limits_and_ended_spans_take_the_public_route() -> None:
    span, _ = _twins(SpanLimits(max_span_attribute_length=3))
    assert not stored_as_is(span, {"a": "long text"})
    span, _ = _twins(SpanLimits(max_span_attributes=2), start={"x": "1"})
    assert not stored_as_is(span, {"a": "1", "b": "2"})
    span, _ = _twins()
    span.end()
    assert not stored_as_is(span, {"a": "1"})
    assert not span.attributes

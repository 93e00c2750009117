"""botanu's OTLP encoder against the stock one, property by property.

Random batches of real SDK objects (``ReadableSpan``, ``ReadableLogRecord``: every attribute
type, unicode, empty and huge values, events, links, status, dropped counts, trace state,
several resources and scopes) are encoded by :class:`botanu.export._encoder.Encoder`, decoded
with the official ``opentelemetry-proto`` classes, and compared with what the stock encoder
(``opentelemetry-exporter-otlp-proto-common``) builds for the same objects: equal messages,
and equal canonical bytes (which also tells ``-0.0`` from ``0.0`` and keeps NaN payloads).

The documented departures (``botanu.export._wire``'s docstring) are checked on their own:
a link's trace state is sent (the stock encoder leaves it out), lone surrogates become U+FFFD
(the stock encoder fails), and an attribute that cannot be encoded (an int beyond int64) is
left out by both.

The framing is checked independently of the official decoder (which merges repeated singular
fields and skips unknown ones): every tag, wire type, varint and length prefix is walked
against the schema and the decoded message. Mutated encodings (truncations, bit flips) must
only ever raise the decoder's ``DecodeError``, and spooled encodings come back byte for byte
(or, damaged on disk, are recognised as corrupt).
"""

from __future__ import annotations

import contextlib
import gzip
import logging
import math
import os
import struct
import tempfile
import warnings
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping, Sequence
from enum import Enum, IntEnum
from typing import Any
from unittest import mock

import pytest
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import DecodeError
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from opentelemetry._logs import LogRecord, SeverityNumber
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk._logs import LogRecordLimits, ReadableLogRecord, ReadWriteLogRecord
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.util import BoundedList
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, NonRecordingSpan, SpanContext, SpanKind, set_span_in_context
from opentelemetry.trace.span import TraceFlags, TraceState
from opentelemetry.trace.status import Status, StatusCode

from botanu import _safety
from botanu.export import Spool, _wire
from botanu.export import _spool_file as spool_file
from botanu.export._encoder import Encoder

INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1
UINT64_MAX = (1 << 64) - 1

# Hypothesis budgets: ~100-200 examples a property, no deadline (CI machines are slow).
PROPERTY = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
)
SMALLER = settings(PROPERTY, max_examples=60)


@pytest.fixture(autouse=True, scope="module")
def _quiet_loggers() -> Iterator[None]:
    """The stock encoder logs a traceback for each attribute it leaves out, the SDK warns on each
    dropped attribute: thousands of examples' worth of noise, and time. Restored afterwards."""
    names = [
        "opentelemetry.exporter.otlp.proto.common._internal",
        "opentelemetry.attributes",
        "opentelemetry.sdk._logs._internal",
        "opentelemetry.trace.span",
        "opentelemetry.trace.status",
        "botanu",
    ]
    saved = {name: logging.getLogger(name).level for name in names}
    for name in names:
        logging.getLogger(name).setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)
        _safety.reset_warnings()  # the warn-once keys silenced here are free to warn again


# --------------------------------------------------------------------------- values


class Colour(str, Enum):
    """A str subclass whose str() is not its text (``Colour.RED`` -> "Colour.RED")."""

    RED = "red"
    BLUE = "blü 🔵"


class Level(IntEnum):
    LOW = 1
    HIGH = 1 << 40


class Ratio(float):
    pass


class Opaque:
    """Not an AnyValue: both encoders leave out an attribute holding one."""

    __slots__ = ()


# Full unicode (astral planes included), no lone surrogates (those have their own test).
_CHAR = st.characters(codec="utf-8")
TEXT = st.one_of(
    st.text(_CHAR, max_size=12),
    st.sampled_from(["", "a", "é", "日本語", "😀", "\U0010ffff", "\x00", "a\u200db", "\x7f\x80"]),
)
KEY = st.text(_CHAR, min_size=1, max_size=10)
# Lengths around the attribute cache's limit (128 characters) and around the 1-, 2- and
# 3-byte varint lengths of a field (127/128 and 16383/16384 bytes), and 100 KB.
HUGE_TEXT = st.builds(
    lambda unit, size: (unit * size)[:size],
    st.text(_CHAR, min_size=1, max_size=3),
    st.one_of(st.integers(120, 140), st.integers(16370, 16400), st.just(100_000)),
)
INT64 = st.one_of(
    st.integers(INT64_MIN, INT64_MAX),
    st.sampled_from([0, 1, -1, 127, 128, -128, 16384, 1 << 32, -(1 << 31), INT64_MAX, INT64_MIN]),
)
BEYOND_INT64 = st.one_of(st.integers(INT64_MAX + 1, 1 << 80), st.integers(-(1 << 80), INT64_MIN - 1))
FLOATS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, 1.0, math.inf, -math.inf, math.nan, 5e-324, 1.7976931348623157e308]),
)
# (Drawn by index: Hypothesis cannot replay a str subclass drawn by sampled_from.)
_SUBCLASSED = (Colour.RED, Colour.BLUE, Level.LOW, Level.HIGH, Ratio(0.5), Ratio(-0.0))
SUBCLASSED = st.integers(0, len(_SUBCLASSED) - 1).map(_SUBCLASSED.__getitem__)
SCALAR = st.one_of(TEXT, st.booleans(), INT64, FLOATS, st.binary(max_size=16), SUBCLASSED)
HOMOGENEOUS = st.one_of(
    st.lists(TEXT, max_size=4),
    st.lists(st.booleans(), max_size=4),
    st.lists(INT64, max_size=4),
    st.lists(FLOATS, max_size=4),
    st.lists(st.binary(max_size=4), max_size=3),
).map(tuple)
# What a span's, event's, link's or resource's attribute holds.
SPAN_VALUE = st.one_of(SCALAR, HOMOGENEOUS, HUGE_TEXT, BEYOND_INT64)
# A log body or log attribute: any AnyValue shape (None, bytes, nested lists, tuples and maps,
# maps with keys that are not text).
ANY_VALUE = st.recursive(
    st.one_of(st.none(), SCALAR),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.lists(inner, max_size=4).map(tuple),
        st.dictionaries(st.one_of(TEXT, st.integers(-5, 5), st.booleans()), inner, max_size=4),
    ),
    max_leaves=12,
)
LOG_VALUE = st.one_of(ANY_VALUE, HUGE_TEXT, BEYOND_INT64, st.lists(BEYOND_INT64, min_size=1, max_size=2))


@st.composite
def attribute_maps(draw: Any, values: st.SearchStrategy[Any]) -> Mapping[str, Any] | None:
    """None, a plain dict (as a hand-built ReadableSpan may hold; unencodable values too) or the
    SDK's BoundedAttributes (a small maxlen so that some are dropped and counted)."""
    form = draw(st.sampled_from(["none", "plain", "bounded", "bounded"]))
    if form == "none":
        return None
    if form == "plain":
        plain = st.one_of(values, st.just(Opaque()), st.just({1, 2}))
        return dict(draw(st.lists(st.tuples(st.one_of(KEY, st.just("")), plain), max_size=6)))
    items = dict(draw(st.lists(st.tuples(KEY, values), max_size=6)))
    maxlen = draw(st.one_of(st.none(), st.integers(0, 4)))
    return BoundedAttributes(maxlen=maxlen, attributes=items, immutable=draw(st.booleans()))


# --------------------------------------------------------------------------- contexts

TRACE_IDS = st.one_of(st.integers(0, (1 << 128) - 1), st.sampled_from([0, 1, (1 << 128) - 1, 1 << 64]))
SPAN_IDS = st.one_of(st.integers(0, UINT64_MAX), st.sampled_from([0, 1, UINT64_MAX]))
TRACE_FLAGS = st.integers(0, 255).map(TraceFlags)
# W3C trace state members (the API drops invalid ones, so generate valid ones).
_TS_KEY = st.from_regex(r"[a-z][_0-9a-z*/-]{0,8}(@[a-z][_0-9a-z*/-]{0,5})?", fullmatch=True)
_TS_VALUE = st.from_regex(r"[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,12}[\x21-\x2b\x2d-\x3c\x3e-\x7e]", fullmatch=True)
TRACE_STATES = st.one_of(
    st.just(TraceState()),
    st.lists(st.tuples(_TS_KEY, _TS_VALUE), max_size=4, unique_by=lambda kv: kv[0]).map(TraceState),
)
SPAN_CONTEXTS = st.builds(
    SpanContext,
    trace_id=TRACE_IDS,
    span_id=SPAN_IDS,
    is_remote=st.booleans(),
    trace_flags=TRACE_FLAGS,
    trace_state=TRACE_STATES,
)
TIMES = st.one_of(st.none(), st.just(0), st.integers(1, UINT64_MAX), st.just(1_700_000_000_123_456_789))


# --------------------------------------------------------------------------- resources and scopes


def _numeric_twin(value: Any) -> Any:
    """A value equal to ``value`` (``==``) with another type: 1 -> 1.0 -> 1, True -> 1, 0.0 -> -0.0."""
    if type(value) is bool:
        return int(value)
    if type(value) is int and abs(value) < 1 << 53:
        return float(value)
    if type(value) is float and math.isfinite(value) and value == int(value):
        return -value if value == 0 else int(value)
    return value


@st.composite
def resource_pools(draw: Any) -> list[Resource]:
    """One to three resources, sometimes with twins: equal but distinct objects (one copy with
    the same values, one whose numbers have another type, so equal but hashed differently)."""
    pool: list[Resource] = []
    for _ in range(draw(st.integers(1, 3))):
        attributes = dict(draw(st.lists(st.tuples(KEY, SPAN_VALUE), max_size=4)))
        if draw(st.booleans()):
            attributes["service.name"] = draw(st.sampled_from(["checkout", "cart", ""]))
        schema_url = draw(
            st.one_of(st.none(), st.just(""), st.just("https://opentelemetry.io/schemas/1.26.0"))
        )
        pool.append(Resource(attributes, schema_url))
    for original in list(pool):
        twin = draw(st.sampled_from(["none", "copy", "numeric"]))
        if twin == "copy":
            pool.append(Resource(dict(original.attributes), original.schema_url))
        elif twin == "numeric":
            numbers = {key: _numeric_twin(value) for key, value in original.attributes.items()}
            pool.append(Resource(numbers, original.schema_url))
    return pool


@st.composite
def scope_pools(draw: Any) -> list[InstrumentationScope | None]:
    """None (no scope) and scopes with or without version, schema URL and attributes, sometimes
    twins (equal, distinct) and siblings (same name, version and URL, other attributes)."""
    pool: list[InstrumentationScope | None] = [None] if draw(st.booleans()) else []
    for _ in range(draw(st.integers(1 if not pool else 0, 3))):
        scope = InstrumentationScope(
            draw(st.one_of(TEXT, st.sampled_from(["botanu", "opentelemetry.instrumentation.httpx"]))),
            draw(st.one_of(st.none(), st.just(""), st.just("1.2.3"), TEXT)),
            draw(st.one_of(st.none(), st.just(""), st.just("https://opentelemetry.io/schemas/1.26.0"))),
            draw(st.one_of(st.none(), st.dictionaries(KEY, SPAN_VALUE, max_size=3))),
        )
        pool.append(scope)
        relative = draw(st.sampled_from(["none", "twin", "sibling"]))
        if relative == "twin":
            pool.append(
                InstrumentationScope(scope.name, scope.version, scope.schema_url, dict(scope.attributes))
            )
        elif relative == "sibling":
            pool.append(InstrumentationScope(scope.name, scope.version, scope.schema_url, {"sibling": True}))
    return pool


# --------------------------------------------------------------------------- spans


def _bounded_list(draw: Any, items: list[Any]) -> Sequence[Any]:
    """A tuple, a list, or the SDK's BoundedList (sometimes too short: dropped ones are counted)."""
    form = draw(st.sampled_from(["tuple", "list", "bounded"]))
    if form == "tuple":
        return tuple(items)
    if form == "list":
        return items
    return BoundedList.from_seq(draw(st.integers(0, len(items) + 1)), items)


EVENTS = st.builds(
    Event,
    name=st.one_of(TEXT, st.sampled_from(["exception", "gen_ai.choice"])),
    attributes=attribute_maps(SPAN_VALUE),
    timestamp=st.one_of(st.just(0), st.integers(1, UINT64_MAX)),
)
LINKS = st.builds(Link, context=SPAN_CONTEXTS, attributes=attribute_maps(SPAN_VALUE))
STATUSES = st.one_of(
    st.just(Status(StatusCode.UNSET)),
    st.builds(Status, st.sampled_from(list(StatusCode)), st.one_of(st.none(), TEXT, HUGE_TEXT)),
)


@st.composite
def spans(draw: Any, resources: list[Resource], scopes: list[InstrumentationScope | None]) -> ReadableSpan:
    return ReadableSpan(
        name=draw(st.one_of(TEXT, st.sampled_from(["GET /users/{id}", "chat gpt-4o"]), HUGE_TEXT)),
        context=draw(SPAN_CONTEXTS),
        parent=draw(st.one_of(st.none(), SPAN_CONTEXTS)),
        resource=draw(st.sampled_from(resources)),
        attributes=draw(attribute_maps(SPAN_VALUE)),
        events=_bounded_list(draw, draw(st.lists(EVENTS, max_size=3))),
        links=_bounded_list(draw, draw(st.lists(LINKS, max_size=3))),
        kind=draw(st.sampled_from(list(SpanKind))),
        status=draw(STATUSES),
        start_time=draw(TIMES),
        end_time=draw(TIMES),
        instrumentation_scope=draw(st.sampled_from(scopes)),
    )


@st.composite
def span_batches(draw: Any, max_size: int = 6) -> list[ReadableSpan]:
    resources, scopes = draw(resource_pools()), draw(scope_pools())
    return draw(st.lists(spans(resources, scopes), max_size=max_size))


# --------------------------------------------------------------------------- log records


@st.composite
def log_records(
    draw: Any, resources: list[Resource], scopes: list[InstrumentationScope | None]
) -> ReadableLogRecord:
    context = set_span_in_context(
        NonRecordingSpan(SpanContext(draw(TRACE_IDS), draw(SPAN_IDS), False, draw(TRACE_FLAGS)))
    )
    record = LogRecord(
        timestamp=draw(TIMES),
        observed_timestamp=draw(st.one_of(st.just(0), st.integers(1, UINT64_MAX))),
        context=context,
        severity_text=draw(st.one_of(st.none(), st.sampled_from(["INFO", "WARN"]), TEXT)),
        severity_number=draw(st.one_of(st.none(), st.sampled_from(list(SeverityNumber)))),
        body=draw(st.one_of(ANY_VALUE, HUGE_TEXT)),
        attributes=draw(attribute_maps(LOG_VALUE)),
        event_name=draw(st.one_of(st.none(), TEXT)),
    )
    resource, scope = draw(st.sampled_from(resources)), draw(st.sampled_from(scopes))
    if draw(st.booleans()):  # as botanu's redaction builds them: plain attributes, no limits
        return ReadableLogRecord(record, resource, scope)
    # As the SDK's processors build them: BoundedAttributes under the record limits.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # LogRecordDroppedAttributesWarning
        limits = LogRecordLimits(max_attributes=draw(st.one_of(st.none(), st.integers(0, 4))))
        writable = ReadWriteLogRecord(record, resource, scope, limits)
    return ReadableLogRecord(writable.log_record, writable.resource, writable.instrumentation_scope, limits)


@st.composite
def log_batches(draw: Any, max_size: int = 6) -> list[ReadableLogRecord]:
    resources, scopes = draw(resource_pools()), draw(scope_pools())
    return draw(st.lists(log_records(resources, scopes), max_size=max_size))


# --------------------------------------------------------------------------- checks

_WIRE_TYPES = {
    FieldDescriptor.TYPE_MESSAGE: 2,
    FieldDescriptor.TYPE_STRING: 2,
    FieldDescriptor.TYPE_BYTES: 2,
    FieldDescriptor.TYPE_DOUBLE: 1,
    FieldDescriptor.TYPE_FIXED64: 1,
    FieldDescriptor.TYPE_SFIXED64: 1,
    FieldDescriptor.TYPE_FIXED32: 5,
    FieldDescriptor.TYPE_SFIXED32: 5,
    FieldDescriptor.TYPE_FLOAT: 5,
}


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    start, value, shift = pos, 0, 0
    while True:
        assert pos < len(data), f"a varint runs past the end of its message (at {start})"
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            break
        assert shift < 70, "a varint longer than 10 bytes"
    assert pos - start == 1 or data[pos - 1] != 0, f"a varint with padding (at {start})"
    return value, pos


def _varint_size(n: int) -> int:
    return max(1, (n.bit_length() + 6) // 7)


def check_framing(data: bytes, message: Any) -> int:
    """Walk ``data`` (botanu's bytes for ``message``, already decoded) field by field.

    Every tag names a field of the schema with its wire type, every varint is minimal, every
    length prefix ends exactly inside its message, strings are valid UTF-8, each nested message
    is walked against its decoded counterpart, a singular field appears at most once (the
    official decoder would silently merge duplicates), a repeated field as often as it decodes,
    and each message is exactly as long as its own canonical re-serialisation, less the default
    values written out (an empty attribute key), which the canonical form leaves out: returns
    how many bytes those take, nested ones and their effect on length prefixes included.
    """
    descriptor = message.DESCRIPTOR
    seen: Counter[int] = Counter()
    excess = 0  # bytes of fields holding their default value, which the canonical form omits
    pos = 0
    while pos < len(data):
        start = pos
        key, pos = _read_varint(data, pos)
        number, wire = key >> 3, key & 7
        field = descriptor.fields_by_number.get(number)
        assert field is not None, f"unknown field {number} in {descriptor.full_name}"
        assert wire == _WIRE_TYPES.get(field.type, 0), f"{field.full_name}: wire type {wire}"
        index = seen[number]
        seen[number] += 1
        if wire == 0:
            value, pos = _read_varint(data, pos)
            is_default = value == 0
        elif wire in (1, 5):
            width = 8 if wire == 1 else 4
            is_default = data[pos : pos + width] == bytes(width)
            pos += width
        else:
            size, pos = _read_varint(data, pos)
            assert pos + size <= len(data), f"{field.full_name}: its length runs past its message"
            payload = data[pos : pos + size]
            pos += size
            is_default = size == 0
            if field.type == FieldDescriptor.TYPE_MESSAGE:
                value = getattr(message, field.name)
                inner = check_framing(payload, value[index] if field.is_repeated else value)
                excess += inner + _varint_size(size) - _varint_size(size - inner)
            elif field.type == FieldDescriptor.TYPE_STRING:
                payload.decode("utf-8")  # strict: a collector refuses invalid UTF-8
        assert pos <= len(data), f"{field.full_name}: a fixed-size field runs past its message"
        if is_default and not field.has_presence and not field.is_repeated:
            excess += pos - start
    for field in descriptor.fields:
        if field.is_repeated:
            assert seen[field.number] == len(getattr(message, field.name)), field.full_name
        else:
            assert seen[field.number] <= 1, f"{field.full_name} appears {seen[field.number]} times"
    # Last, so that the innermost message of a wrong size is the one reported.
    assert len(data) - excess == message.ByteSize(), f"{descriptor.full_name}: {data!r}"
    return excess


def stock_order(items: Sequence[Any]) -> list[Any]:
    """``items`` in the order the stock encoder writes them (grouped by resource, then scope)."""
    groups: defaultdict[Any, defaultdict[Any, list[Any]]] = defaultdict(lambda: defaultdict(list))
    for item in items:
        groups[item.resource][item.instrumentation_scope or None].append(item)
    return [item for scopes in groups.values() for group in scopes.values() for item in group]


def trace_state_text(trace_state: TraceState) -> str:
    return ",".join(f"{key}={value}" for key, value in trace_state.items())


def decoded_spans(request: ExportTraceServiceRequest) -> list[Any]:
    return [span for rs in request.resource_spans for ss in rs.scope_spans for span in ss.spans]


def assert_spans_encoded(encoded: bytes, batch: Sequence[ReadableSpan]) -> ExportTraceServiceRequest:
    """botanu's bytes for ``batch`` mean what the stock encoder's request means."""
    ours = ExportTraceServiceRequest.FromString(encoded)
    check_framing(encoded, ours)
    # Departure (a): botanu sends each link's trace state, the stock encoder does not.
    link_states = []
    for span in decoded_spans(ours):
        for link in span.links:
            link_states.append(link.trace_state)
            link.ClearField("trace_state")
    stock = encode_spans(batch)
    assert ours == stock
    assert ours.SerializeToString() == stock.SerializeToString()  # -0.0, NaN payloads
    expected_states = [
        trace_state_text(link.context.trace_state) for s in stock_order(batch) for link in s.links
    ]
    assert link_states == expected_states
    return ours


def assert_logs_encoded(encoded: bytes, batch: Sequence[ReadableLogRecord]) -> ExportLogsServiceRequest:
    ours = ExportLogsServiceRequest.FromString(encoded)
    check_framing(encoded, ours)
    stock = encode_logs(batch)
    assert ours == stock
    assert ours.SerializeToString() == stock.SerializeToString()
    return ours


# --------------------------------------------------------------------------- the properties


@PROPERTY
@given(span_batches())
def test_spans_mean_what_the_stock_encoder_means(batch: list[ReadableSpan]) -> None:
    note(repr([(s.name, s.resource.attributes, s.instrumentation_scope) for s in batch]))
    assert_spans_encoded(Encoder().spans(batch), batch)


@PROPERTY
@given(log_batches())
def test_log_records_mean_what_the_stock_encoder_means(batch: list[ReadableLogRecord]) -> None:
    note(repr([(r.log_record.body, r.log_record.attributes, r.resource.attributes) for r in batch]))
    assert_logs_encoded(Encoder().logs(batch), batch)


@settings(SMALLER, max_examples=40)
@given(st.lists(st.one_of(span_batches(max_size=3), log_batches(max_size=3)), min_size=2, max_size=5))
def test_one_encoder_over_many_batches_still_matches(batches: list[list[Any]]) -> None:
    """The caches (attributes, names, resources, scopes) carry state from batch to batch."""
    encoder = Encoder()
    for batch in batches * 2:
        if batch and isinstance(batch[0], ReadableLogRecord):
            assert_logs_encoded(encoder.logs(batch), batch)
        else:
            assert_spans_encoded(encoder.spans(batch), batch)


@SMALLER
@given(span_batches(max_size=4), log_batches(max_size=4))
def test_decoded_requests_round_trip_through_the_official_classes(
    spans_: list[Any], logs_: list[Any]
) -> None:
    for encoded, request_type in (
        (Encoder().spans(spans_), ExportTraceServiceRequest),
        (Encoder().logs(logs_), ExportLogsServiceRequest),
    ):
        decoded = request_type.FromString(encoded)
        again = request_type.FromString(decoded.SerializeToString())
        assert again == decoded
        assert again.SerializeToString() == decoded.SerializeToString()


# --------------------------------------------------------------------------- (b) lone surrogates

# Text with lone surrogates (as ``surrogateescape`` leaves undecodable bytes, or a bad \ud83d
# in JSON), around ordinary and astral characters.
_MAYBE_SURROGATES = st.text(st.one_of(st.characters(categories=["Cs"]), _CHAR), max_size=6)
SURROGATE_TEXT = st.builds(
    lambda before, surrogate, after: before + surrogate + after,
    _MAYBE_SURROGATES,
    st.characters(categories=["Cs"]),
    _MAYBE_SURROGATES,
)


def replaced(text: str) -> str:
    """What botanu promises for ``text``: each lone surrogate one U+FFFD, the rest kept."""
    return "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in text)


def _span_full_of(text: str, resource: Resource, scope: InstrumentationScope) -> ReadableSpan:
    context = SpanContext(1, 2, False, TraceFlags(1))
    return ReadableSpan(
        name=text,
        context=context,
        resource=resource,
        attributes=BoundedAttributes(attributes={text: text, "list": ("ok", text), "k": "ok"}),
        events=(Event(text, {text: text}, timestamp=5),),
        links=(Link(context, {"k": text}),),
        status=Status(StatusCode.ERROR, text),
        start_time=1,
        end_time=2,
        instrumentation_scope=scope,
    )


def _log_full_of(text: str, resource: Resource, scope: InstrumentationScope) -> ReadableLogRecord:
    record = LogRecord(
        timestamp=1,
        observed_timestamp=2,
        severity_text=text,
        severity_number=SeverityNumber.WARN,
        body={text: [text, {"k": text}]},
        attributes={text: text, "k": (text, 1)},
        event_name=text,
    )
    return ReadableLogRecord(record, resource, scope)


@PROPERTY
@given(SURROGATE_TEXT)
def test_lone_surrogates_become_one_replacement_character_each(text: str) -> None:
    """botanu(text with surrogates) decodes to exactly what the stock encoder makes of the same
    items with each surrogate replaced by U+FFFD (the stock encoder itself fails on them)."""
    clean = replaced(text)

    def resource(t: str) -> Resource:
        return Resource({"service.name": t, t: "v"}, "https://example.com/" + t)

    def scope(t: str) -> InstrumentationScope:
        return InstrumentationScope(t, t, "https://example.com/" + t, {t: t})

    encoded = Encoder().spans([_span_full_of(text, resource(text), scope(text))])
    assert_spans_encoded(encoded, [_span_full_of(clean, resource(clean), scope(clean))])
    assert (
        replaced(text)
        in ExportTraceServiceRequest.FromString(encoded).resource_spans[0].scope_spans[0].spans[0].name
    )
    encoded = Encoder().logs([_log_full_of(text, resource(text), scope(text))])
    assert_logs_encoded(encoded, [_log_full_of(clean, resource(clean), scope(clean))])
    with pytest.raises(UnicodeEncodeError):  # the stock encoder: the whole request fails
        encode_spans([_span_full_of(text, resource(text), scope(text))])


# --------------------------------------------------------------------------- (c) unencodable attributes


@pytest.mark.parametrize("big", [INT64_MAX + 1, INT64_MIN - 1, 1 << 100, -(1 << 100)])
def test_an_int_beyond_int64_is_left_out_by_both(big: int) -> None:
    attributes = BoundedAttributes(attributes={"before": 1, "big": big, "nested": ("x", big), "after": 2})
    span = ReadableSpan("s", SpanContext(1, 2, False), attributes=attributes, resource=Resource({"r": big}))
    ours = assert_spans_encoded(Encoder().spans([span]), [span])
    encoded_span = decoded_spans(ours)[0]
    assert [kv.key for kv in encoded_span.attributes] == ["before", "after"]
    assert encoded_span.dropped_attributes_count == 0  # the SDK did not drop it; the encoders skip it
    assert list(ours.resource_spans[0].resource.attributes) == []
    record = ReadableLogRecord(
        LogRecord(body="b", attributes={"big": big, "ok": [big, 1], "fine": 3}), Resource({})
    )
    logs = assert_logs_encoded(Encoder().logs([record]), [record])
    assert [kv.key for kv in logs.resource_logs[0].scope_logs[0].log_records[0].attributes] == ["fine"]


@pytest.mark.parametrize(
    "body", [INT64_MAX + 1, [1, INT64_MIN - 1], {"k": 1 << 70}, Opaque(), {"k": [Opaque()]}]
)
def test_a_body_that_cannot_be_encoded_fails_in_both(body: Any) -> None:
    """The body is not an attribute: the stock encoder fails on the whole batch, and so does botanu's
    encoder (its caller decides what to do with the batch)."""
    record = ReadableLogRecord(LogRecord(body=body), Resource({}))
    with pytest.raises(Exception):
        encode_logs([record])
    with pytest.raises((TypeError, OverflowError)):
        Encoder().logs([record])


# --------------------------------------------------------------------------- fuzzed decoding


@st.composite
def mutations(draw: Any, data: bytes) -> bytes:
    """``data`` cut short, with bits flipped, a byte inserted or removed, or a byte overwritten."""
    if not data:
        return draw(st.binary(min_size=1, max_size=8))
    kind = draw(st.sampled_from(["truncate", "flip", "flips", "insert", "delete", "overwrite"]))
    at = draw(st.integers(0, len(data) - 1))
    if kind == "truncate":
        return data[:at]
    if kind == "flip":
        return data[:at] + bytes([data[at] ^ (1 << draw(st.integers(0, 7)))]) + data[at + 1 :]
    if kind == "flips":
        out = bytearray(data)
        for position in draw(st.lists(st.integers(0, len(data) - 1), min_size=1, max_size=8)):
            out[position] ^= 1 << draw(st.integers(0, 7))
        return bytes(out)
    if kind == "insert":
        return data[:at] + bytes([draw(st.integers(0, 255))]) + data[at:]
    if kind == "delete":
        return data[:at] + data[at + 1 :]
    return data[:at] + bytes([draw(st.sampled_from([0x00, 0x7F, 0x80, 0xFF]))]) + data[at + 1 :]


@PROPERTY
@given(st.one_of(span_batches(max_size=3), log_batches(max_size=3)), st.data())
def test_mutated_encodings_fail_only_with_decode_error(batch: list[Any], data: Any) -> None:
    logs = bool(batch) and isinstance(batch[0], ReadableLogRecord)
    encoded = Encoder().logs(batch) if logs else Encoder().spans(batch)
    request_type = ExportLogsServiceRequest if logs else ExportTraceServiceRequest
    mutated = data.draw(mutations(encoded))
    with contextlib.suppress(DecodeError):
        request_type.FromString(mutated).SerializeToString()
    # The spool's reader: a damaged file is corrupt (the checksum sees every change a mutation
    # makes: a burst of up to 32 bits, a length change), never a crash, never a different payload.
    stored = spool_file.encode(encoded, len(batch), 1_700_000_000_000, gzipped=False, logs=logs)
    damaged = data.draw(st.one_of(mutations(stored), st.just(stored)))
    try:
        record = spool_file.decode(damaged)
    except spool_file.CorruptSpoolFile:
        assert damaged != stored
    else:
        # Only a change spread over more than 32 bits can (with odds of 2**-32) pass the CRC.
        assert damaged == stored or (len(damaged) == len(stored) and _burst_bits(stored, damaged) > 32)
        if damaged == stored:
            assert record.payload == encoded


def _burst_bits(a: bytes, b: bytes) -> int:
    """The length in bits of the stretch where ``a`` and ``b`` differ (0 if they do not)."""
    differ = [i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y]
    return 0 if not differ else (differ[-1] - differ[0] + 1) * 8


# --------------------------------------------------------------------------- the spool


@contextlib.contextmanager
def _spool(signal: str) -> Iterator[Spool]:
    with tempfile.TemporaryDirectory() as directory:
        yield Spool(os.path.join(directory, "spool"), durable=False, signal=signal)


@SMALLER
@given(st.one_of(span_batches(max_size=4), log_batches(max_size=4)), st.booleans())
def test_encodings_come_back_from_the_spool_byte_for_byte(batch: list[Any], gzipped: bool) -> None:
    logs = bool(batch) and isinstance(batch[0], ReadableLogRecord)
    encoded = Encoder().logs(batch) if logs else Encoder().spans(batch)
    body = gzip.compress(encoded, 1) if gzipped else encoded
    with _spool("logs" if logs else "traces") as spool:
        assert spool.put(body, max(1, len(batch)), gzipped=gzipped) is None
        claim = spool.claim_oldest()
        assert claim is not None
        assert claim.record.payload == body and claim.record.gzipped == gzipped
        payload = gzip.decompress(claim.record.payload) if gzipped else claim.record.payload
        assert payload == encoded
        if logs:
            assert_logs_encoded(payload, batch)
        else:
            assert_spans_encoded(payload, batch)
        spool.complete(claim)


@SMALLER
@given(span_batches(max_size=3), st.data())
def test_a_spool_file_damaged_on_disk_is_never_replayed(batch: list[Any], data: Any) -> None:
    encoded = Encoder().spans(batch)
    with _spool("traces") as spool:
        assert spool.put(encoded, max(1, len(batch)), gzipped=False) is None
        (entry,) = spool.files()
        path = spool.directory / entry.name
        stored = path.read_bytes()
        at = data.draw(st.integers(0, len(stored) - 1))
        damaged = data.draw(
            st.sampled_from(
                [
                    stored[:at],
                    stored[:at] + bytes([stored[at] ^ 0x10]) + stored[at + 1 :],
                    stored + b"\x00",
                ]
            )
        )
        path.write_bytes(damaged)
        assert spool.claim_oldest() is None
        assert len(os.listdir(spool.directory / "corrupt")) == 1


# --------------------------------------------------------------------------- caches under churn

CHURN_KEYS = st.sampled_from(["k", "é", "😀", "k2"])
_CHURN = (True, False, 1, 0, -1, 1.0, 0.0, -0.0, math.inf, math.nan, "1", "True", "0", "", b"1", b"")
_CHURN += ((1,), (True,), (1.0,), ("1",), None, Level.LOW, Colour.RED, Ratio(1.0), INT64_MAX + 1)
CHURN_VALUES = st.one_of(
    st.integers(0, len(_CHURN) - 1).map(_CHURN.__getitem__),
    st.text(_CHAR, max_size=6),
    st.builds(lambda size: "x" * size, st.integers(0, 10)),  # around the patched cached length, 4
)


@SMALLER
@given(
    st.lists(
        st.lists(st.dictionaries(CHURN_KEYS, CHURN_VALUES, max_size=4), min_size=1, max_size=4), max_size=25
    )
)
def test_attribute_caches_never_confuse_values_under_churn(batches: list[list[dict[str, Any]]]) -> None:
    """Tiny cache limits: entries are evicted and levels cleared all the time; True, 1, 1.0,
    "1", 0.0 and -0.0 under one key must stay themselves, short and long text alike."""
    resource = Resource({"service.name": "churn"})
    with (
        mock.patch.object(_wire, "CACHE_KEYS", 2),
        mock.patch.object(_wire, "CACHE_VALUES_PER_KEY", 3),
        mock.patch.object(_wire, "CACHED_VALUE_LEN", 4),
    ):
        encoder = Encoder()
        for maps in batches:
            batch = [
                ReadableSpan(
                    "s",
                    SpanContext(1, 2, False),
                    resource=resource,
                    attributes=dict(attributes),
                    events=(Event("e", dict(attributes), timestamp=1),),
                    links=(Link(SpanContext(3, 4, True), dict(attributes)),),
                )
                for attributes in maps
            ]
            assert_spans_encoded(encoder.spans(batch), batch)
            records = [ReadableLogRecord(LogRecord(body=1, attributes=dict(a)), resource) for a in maps]
            assert_logs_encoded(encoder.logs(records), records)


def test_attribute_caches_under_churn_with_the_real_limits() -> None:
    """More keys than CACHE_KEYS and more values per key than CACHE_VALUES_PER_KEY, with values
    of every scalar type under the same keys, through one encoder."""
    encoder = Encoder()
    keys = _wire.CACHE_KEYS + 40
    values_per_key = _wire.CACHE_VALUES_PER_KEY + 10
    forms = (lambda n: n, float, lambda n: bool(n % 2), str, lambda n: -0.0 if n % 2 else 0.0)
    resources = [Resource({"service.name": f"svc-{n}", "n": n}) for n in range(70)]  # > the resource cache
    for round_ in range(values_per_key * 2):
        batch = []
        for k in range(0, keys, 7):
            n = (round_ * 31 + k) % values_per_key
            attributes = {f"key-{(k + i) % keys}": forms[(round_ + i) % len(forms)](n) for i in range(5)}
            batch.append(
                ReadableSpan(
                    f"span-{n}",
                    SpanContext(round_ + 1, k + 1, False),
                    resource=resources[round_ % len(resources)],
                    attributes=attributes,
                    instrumentation_scope=InstrumentationScope(f"scope-{k % 5}", None, None, {"k": k % 3}),
                )
            )
        assert_spans_encoded(encoder.spans(batch), batch)


@pytest.mark.parametrize(
    "size",
    [
        _wire.CACHED_VALUE_LEN - 1,
        _wire.CACHED_VALUE_LEN,
        _wire.CACHED_VALUE_LEN + 1,
        16_384 - 20,
        16_384,
        100_000,
        (1 << 21) + 5,  # a 4-byte length prefix
    ],
)
def test_huge_text_is_encoded_whole_every_time(size: int) -> None:
    encoder = Encoder()
    for unit in ("a", "é", "😀") if size < 200_000 else ("é",):
        text = (unit * size)[:size]
        other = text[:-1] + "b"  # the same length and prefix, another value
        for value in (text, other, text) if size < 200_000 else (text, other):
            span = ReadableSpan(
                value,
                SpanContext(1, 2, False),
                resource=Resource({"big": value}),
                attributes={"big": value, "list": (value,)},
                events=(Event(value, {"big": value}, timestamp=1),),
                status=Status(StatusCode.ERROR, value),
            )
            ours = assert_spans_encoded(encoder.spans([span]), [span])
            assert decoded_spans(ours)[0].attributes[0].value.string_value == value
            record = ReadableLogRecord(LogRecord(body=value, attributes={"big": value}), Resource({}))
            assert_logs_encoded(encoder.logs([record]), [record])


# --------------------------------------------------------------------------- focused regressions


def test_regression_str_subclass_is_sent_as_its_text_not_its_str() -> None:
    """A ``str`` enum (``class Colour(str, Enum)``) is its text for the stock encoder ("red");
    ``str(Colour.RED)`` is "Colour.RED"."""
    body = {"colour": Colour.RED, "list": [Colour.BLUE]}
    record = ReadableLogRecord(LogRecord(body=body, attributes={"c": Colour.RED}), Resource({}))
    logs = assert_logs_encoded(Encoder().logs([record]), [record])
    assert logs.resource_logs[0].scope_logs[0].log_records[0].attributes[0].value.string_value == "red"
    span = ReadableSpan("s", SpanContext(1, 2, False), attributes={"c": Colour.BLUE, "t": (Colour.RED,)})
    assert_spans_encoded(Encoder().spans([span]), [span])


def test_regression_the_attribute_cache_keeps_the_sign_of_zero() -> None:
    """0.0 == -0.0 (and they hash alike): a cached 0.0 must not be sent for -0.0."""
    encoder = Encoder()
    for value in (0.0, -0.0, 0.0, -0.0):
        span = ReadableSpan("s", SpanContext(1, 2, False), attributes={"x": value})
        ours = assert_spans_encoded(encoder.spans([span]), [span])
        sent = decoded_spans(ours)[0].attributes[0].value.double_value
        assert math.copysign(1.0, sent) == math.copysign(1.0, value)


def test_regression_equal_resources_hashed_differently_stay_apart() -> None:
    """Resource({"n": 1}) == Resource({"n": 1.0}) but they hash differently: the stock encoder
    (a dict) keeps two ResourceSpans, each with its own attribute type."""
    batch = [
        ReadableSpan("a", SpanContext(1, 2, False), resource=Resource({"n": 1})),
        ReadableSpan("b", SpanContext(1, 3, False), resource=Resource({"n": 1.0})),
        ReadableSpan("c", SpanContext(1, 4, False), resource=Resource({"n": True})),
    ]
    ours = assert_spans_encoded(Encoder().spans(batch), batch)
    assert len(ours.resource_spans) == 3


def test_regression_equal_resources_interleaved_keep_the_stock_order() -> None:
    """Two equal Resource objects, interleaved with scopes: one ResourceSpans whose scopes and
    spans are in first-seen order, as the stock encoder writes them."""
    first, second = Resource({"service.name": "x"}), Resource({"service.name": "x"})
    one, two = InstrumentationScope("one"), InstrumentationScope("two")
    batch = [
        ReadableSpan("a", SpanContext(1, 1, False), resource=first, instrumentation_scope=one),
        ReadableSpan("b", SpanContext(1, 2, False), resource=second, instrumentation_scope=two),
        ReadableSpan("c", SpanContext(1, 3, False), resource=first, instrumentation_scope=two),
        ReadableSpan("d", SpanContext(1, 4, False), resource=second, instrumentation_scope=one),
    ]
    ours = assert_spans_encoded(Encoder().spans(batch), batch)
    assert [[s.name for s in ss.spans] for ss in ours.resource_spans[0].scope_spans] == [
        ["a", "d"],
        ["b", "c"],
    ]


def test_regression_log_attributes_all_dropped_are_still_counted() -> None:
    """A record limit of 0 attributes (OTEL_LOGRECORD_ATTRIBUTE_COUNT_LIMIT=0) leaves the record's
    BoundedAttributes empty but counting: dropped_attributes_count is still sent."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        limits = LogRecordLimits(max_attributes=0)
        writable = ReadWriteLogRecord(
            LogRecord(body="b", attributes={"a": 1, "b": 2}), Resource({}), None, limits
        )
    record = ReadableLogRecord(writable.log_record, writable.resource, None, limits)
    assert record.dropped_attributes == 2
    logs = assert_logs_encoded(Encoder().logs([record]), [record])
    assert logs.resource_logs[0].scope_logs[0].log_records[0].dropped_attributes_count == 2


def test_regression_link_trace_state_is_sent() -> None:
    state = TraceState([("vendor", "v1"), ("a@b", "x y")])
    span = ReadableSpan(
        "s", SpanContext(1, 2, False), links=(Link(SpanContext(3, 4, True, trace_state=state)),)
    )
    raw = ExportTraceServiceRequest.FromString(Encoder().spans([span]))
    assert decoded_spans(raw)[0].links[0].trace_state == "vendor=v1,a@b=x y"
    assert_spans_encoded(Encoder().spans([span]), [span])


def test_varint_and_field_lengths_at_their_boundaries() -> None:
    for n in (0, 1, 127, 128, 16383, 16384, (1 << 21) - 1, 1 << 21, INT64_MAX, UINT64_MAX):
        encoded = _wire.varint(n)
        assert _read_varint(encoded, 0) == (n, len(encoded))
    for n in (-1, INT64_MIN):
        assert _read_varint(_wire.varint(n), 0) == (n + (1 << 64), 10)
    for size in (0, 127, 128, 16383, 16384, (1 << 21) - 1, 1 << 21):
        encoded = _wire.field(b"\x0a", b"x" * size)
        assert _read_varint(encoded, 1) == (size, len(encoded) - size)


def test_doubles_keep_their_bits() -> None:
    """NaN payloads and the sign of zero survive (the canonical-bytes comparison relies on it)."""
    quiet_nan_with_payload = struct.unpack("<d", struct.pack("<Q", 0x7FF8_0000_0000_1234))[0]
    for value in (quiet_nan_with_payload, -math.nan, -0.0, 5e-324):
        span = ReadableSpan("s", SpanContext(1, 2, False), attributes={"x": value, "t": (value, 1.0)})
        ours = assert_spans_encoded(Encoder().spans([span]), [span])
        sent = decoded_spans(ours)[0].attributes[0].value.double_value
        assert struct.pack("<d", sent) == struct.pack("<d", value)


def test_empty_batches_are_empty_requests() -> None:
    assert Encoder().spans([]) == encode_spans([]).SerializeToString() == b""
    assert Encoder().logs([]) == encode_logs([]).SerializeToString() == b""


def test_span_contexts_are_read_by_unpacking_on_this_api():
    # The property tests above then check the unpacked reading against the stock encoder.
    from botanu.export import _encoder

    assert _encoder._UNPACKS

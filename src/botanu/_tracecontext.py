"""W3C Trace Context (``traceparent``, ``tracestate``) read and written as the Recommendation says.

The SDK's ``TraceContextTextMapPropagator`` gets ``traceparent`` right but reads ``tracestate``
with an older key grammar and drops the whole header on a duplicated key: keys such as
``foo@`` or ``t@vendorname12345`` (valid today: a key is up to 256 characters of
``a-z 0-9 _ - * / @``, starting with a letter or digit) and ``foo=1,foo=2`` cost every
vendor's entry downstream. botanu puts :class:`TraceContextPropagator` in its place in the
global propagator (``botanu.init()`` and ``botanu run`` alike). Its rules:

``traceparent`` (inbound)
    Exactly one header field; optional blanks around it are ignored. ``version`` is two
    lower-case hex digits and not ``ff``. Version ``00`` is exactly
    ``00-<32 hex trace-id>-<16 hex parent-id>-<2 hex flags>``; a higher version is read by
    the same layout and may carry more fields after a ``-``. All-zero ids, upper-case
    hex or anything else invalid restart the trace, and the ``tracestate`` that came with
    it is not read. Of the flags only ``sampled`` and ``random`` (Level 2) are kept.
``tracestate`` (inbound, only with a valid ``traceparent``)
    All header fields are one comma-separated list (RFC 9110). Blanks around members and
    empty members are ignored. A member that does not parse (bad key or value, no ``=``)
    or more than 32 members make the list invalid: it is discarded as a whole and the
    trace goes on. A repeated key keeps its left-most (most recent) value.
outbound
    ``traceparent`` is written as version ``00`` with the flags botanu knows about
    (reserved bits zero). ``tracestate`` is written only when it has members: valid ones,
    no repeats, at most 32, and at most 512 characters; past 512, members longer than 128
    characters go first, then members from the right, as the Recommendation asks.

Nothing here raises into the app: a header botanu cannot read is a header not received.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.propagators.textmap import (
    CarrierT,
    Getter,
    Setter,
    TextMapPropagator,
    default_getter,
    default_setter,
)
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.trace.span import TraceState

from botanu._safety import report_internal, warn_once

logger = logging.getLogger("botanu")

TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"
MAX_MEMBERS = 32
# What botanu writes at most; the Recommendation asks to propagate at least this much.
MAX_OUTBOUND_LENGTH = 512
# Past MAX_OUTBOUND_LENGTH, members longer than this are removed before any other.
LARGE_MEMBER = 128
# Flags defined by the Recommendation: sampled (Level 1) and random trace-id (Level 2).
KNOWN_FLAGS = 0x03

# These run on text every caller chooses: each is bounded, and a value's length is checked
# before its pattern runs, so no match can backtrack over more than 256 characters.
_KEY_RE = re.compile(r"[a-z0-9][a-z0-9_\-*/@]{0,255}")
_VALUE_RE = re.compile(r"[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]")
_HEX2_RE = re.compile(r"[0-9a-f]{2}")
_TRACE_ID_RE = re.compile(r"[0-9a-f]{32}")
_SPAN_ID_RE = re.compile(r"[0-9a-f]{16}")
_OWS = " \t"
# Length of a version 00 traceparent, and of the part every later version shares with it.
_TRACEPARENT_LENGTH = 55


def valid_key(key: object) -> bool:
    return isinstance(key, str) and _KEY_RE.fullmatch(key) is not None


def valid_value(value: object) -> bool:
    return isinstance(value, str) and len(value) <= 256 and _VALUE_RE.fullmatch(value) is not None


# --------------------------------------------------------------------------- traceparent


def parse_traceparent(value: str) -> tuple[int, int, int] | None:
    """``(trace_id, span_id, flags)`` of one ``traceparent`` field value, or None if it is invalid."""
    text = value.strip(_OWS)
    # A comma means two fields were combined into one (a repeated header): no single parent.
    if len(text) < _TRACEPARENT_LENGTH or "," in text:
        return None
    version = text[:2]
    if not _HEX2_RE.fullmatch(version) or version == "ff":
        return None
    if version == "00" and len(text) != _TRACEPARENT_LENGTH:
        return None  # version 00 has exactly four fields
    if len(text) > _TRACEPARENT_LENGTH and text[_TRACEPARENT_LENGTH] != "-":
        return None  # a later version's extra fields follow a dash, nothing else
    if text[2] != "-" or text[35] != "-" or text[52] != "-":
        return None
    trace_id, span_id, flags = text[3:35], text[36:52], text[53:55]
    # The patterns first: int(..., 16) would also take "0x", "_" and upper case.
    if not (
        _TRACE_ID_RE.fullmatch(trace_id) and _SPAN_ID_RE.fullmatch(span_id) and _HEX2_RE.fullmatch(flags)
    ):
        return None
    trace_number, span_number = int(trace_id, 16), int(span_id, 16)
    if trace_number == 0 or span_number == 0:
        return None
    return trace_number, span_number, int(flags, 16) & KNOWN_FLAGS


def format_traceparent(span_context: trace.SpanContext) -> str:
    flags = int(span_context.trace_flags) & KNOWN_FLAGS
    return f"00-{span_context.trace_id:032x}-{span_context.span_id:016x}-{flags:02x}"


# --------------------------------------------------------------------------- tracestate


class InvalidTraceState(ValueError):
    """An inbound ``tracestate`` list that must be discarded; the message says why, never the content."""


def parse_tracestate(fields: Iterable[str]) -> list[tuple[str, str]]:
    """The members of the ``tracestate`` header fields, in order, first of each key kept.

    Raises :class:`InvalidTraceState` when the list as a whole must be discarded.
    """
    members: list[tuple[str, str]] = []
    seen: set[str] = set()
    count = 0
    for field in fields:
        for raw in field.split(","):
            member = raw.strip(_OWS)
            if not member:
                continue  # empty and blank members are allowed, and carry nothing
            count += 1
            if count > MAX_MEMBERS:
                raise InvalidTraceState(f"more than {MAX_MEMBERS} list members")
            key, eq, value = member.partition("=")
            if not eq:
                raise InvalidTraceState("a list member without '='")
            if not valid_key(key):
                raise InvalidTraceState("a key outside the key grammar")
            if not valid_value(value):
                raise InvalidTraceState("a value outside the value grammar")
            if key in seen:
                continue  # a repeated key: the left-most entry is the most recent one
            seen.add(key)
            members.append((key, value))
    return members


def format_tracestate(state: Mapping[str, str] | None) -> str:
    """The ``tracestate`` value to send for ``state``: valid members only, within the limits."""
    if not state:
        return ""
    members: list[str] = []
    seen: set[str] = set()
    for key, value in state.items():
        # Any TraceState may arrive here (the SDK's, a sampler's): send only what reads back.
        if key in seen or not valid_key(key) or not valid_value(value):
            continue
        seen.add(key)
        members.append(f"{key}={value}")
        if len(members) == MAX_MEMBERS:
            break
    length = sum(map(len, members)) + max(len(members) - 1, 0)
    while length > MAX_OUTBOUND_LENGTH:
        large = [i for i, member in enumerate(members) if len(member) > LARGE_MEMBER]
        removed = members.pop(large[-1] if large else -1)
        length -= len(removed) + (1 if members else 0)
    return ",".join(members)


class W3CTraceState(TraceState):
    """A ``TraceState`` that holds keys of the current key grammar (``foo@``, ``t@vendor15chars``).

    The SDK's ``TraceState`` drops such keys, so an inherited entry would vanish at the first
    ``add``/``update``. This one keeps its own entries and answers the same API (the SDK
    passes a parent's trace state on to child spans as the very same object).
    """

    def __init__(self, entries: Sequence[tuple[str, str]] | None = None) -> None:
        super().__init__()
        self._entries: dict[str, str] = {}
        for key, value in entries or ():
            if len(self._entries) >= MAX_MEMBERS:
                break
            if key not in self._entries and valid_key(key) and valid_value(value):
                self._entries[key] = value

    def __contains__(self, item: object) -> bool:
        return item in self._entries

    def __getitem__(self, key: str) -> str:
        return self._entries[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"W3CTraceState({list(self._entries.items())!r})"

    def keys(self):  # type: ignore[no-untyped-def]  # the SDK's signature
        return self._entries.keys()

    def items(self):  # type: ignore[no-untyped-def]
        return self._entries.items()

    def values(self):  # type: ignore[no-untyped-def]
        return self._entries.values()

    def add(self, key: str, value: str) -> TraceState:
        if (
            key in self._entries
            or len(self._entries) >= MAX_MEMBERS
            or not (valid_key(key) and valid_value(value))
        ):
            return self
        return W3CTraceState([(key, value), *self._entries.items()])

    def update(self, key: str, value: str) -> TraceState:
        # The SDK's update adds a missing key too (an "upsert"); so does this one.
        if not (valid_key(key) and valid_value(value)):
            return self
        if key not in self._entries and len(self._entries) >= MAX_MEMBERS:
            return self
        rest = [(k, v) for k, v in self._entries.items() if k != key]
        return W3CTraceState([(key, value), *rest])  # a changed entry moves to the left

    def delete(self, key: str) -> TraceState:
        if key not in self._entries:
            return self
        return W3CTraceState([(k, v) for k, v in self._entries.items() if k != key])

    def to_header(self) -> str:
        return ",".join(f"{key}={value}" for key, value in self._entries.items())

    @classmethod
    def from_header(cls, header_list: list[str]) -> TraceState:
        try:
            return cls(parse_tracestate(header_list))
        except InvalidTraceState:
            return cls()

    @classmethod
    def get_default(cls) -> TraceState:
        return cls()


# --------------------------------------------------------------------------- propagator


def _field_values(raw: object) -> list[str]:
    """A getter's answer as a list of strings (getters return a list, some a bare string)."""
    if raw is None:
        return []
    if isinstance(raw, str):
        return [raw]
    try:
        return [value for value in raw if isinstance(value, str)]  # type: ignore[attr-defined]
    except TypeError:
        return []


class TraceContextPropagator(TraceContextTextMapPropagator):
    """W3C Trace Context by the rules in this module's docstring.

    A subclass of the SDK's propagator, so code that looks for "the tracecontext
    propagator" by type still finds it.
    """

    def extract(
        self, carrier: CarrierT, context: Context | None = None, getter: Getter[CarrierT] = default_getter
    ) -> Context:
        base = context if context is not None else Context()
        try:
            return self._extract(carrier, base, getter)
        except Exception:  # a getter or carrier of the app's that misbehaves: no parent, request goes on
            report_internal("reading trace context headers")
            return base

    def _extract(self, carrier: CarrierT, base: Context, getter: Getter[CarrierT]) -> Context:
        fields = _field_values(getter.get(carrier, TRACEPARENT))
        if not fields:
            return base
        parsed = parse_traceparent(fields[0]) if len(fields) == 1 else None
        if parsed is None:
            # The trace restarts here; the tracestate that came with it is not read (W3C).
            logger.debug("botanu: inbound traceparent not valid; a new trace starts")
            return base
        trace_id, span_id, flags = parsed
        state: TraceState | None = None
        states = _field_values(getter.get(carrier, TRACESTATE))
        if states:
            try:
                members = parse_tracestate(states)
            except InvalidTraceState as why:
                # Counted once per process, without the caller's text (it is theirs to flood with).
                warn_once(
                    "inbound tracestate discarded",
                    "botanu: discarded an inbound tracestate header (%s); the trace goes on. "
                    "Logged once per process.",
                    why,
                )
                members = []
            state = W3CTraceState(members) if members else None
        span_context = trace.SpanContext(
            trace_id=trace_id,
            span_id=span_id,
            is_remote=True,
            trace_flags=trace.TraceFlags(flags),
            trace_state=state,
        )
        return trace.set_span_in_context(trace.NonRecordingSpan(span_context), base)

    def inject(
        self, carrier: CarrierT, context: Context | None = None, setter: Setter[CarrierT] = default_setter
    ) -> None:
        try:
            span_context = trace.get_current_span(context).get_span_context()
            if not span_context.is_valid:
                return
            setter.set(carrier, TRACEPARENT, format_traceparent(span_context))
            state = format_tracestate(span_context.trace_state)
            if state:
                setter.set(carrier, TRACESTATE, state)
        except Exception:  # the request goes out without (part of) its trace context
            report_internal("writing trace context headers")


def with_conformant_tracecontext(current: TextMapPropagator) -> TextMapPropagator:
    """``current`` with each stock SDK trace-context propagator replaced by botanu's.

    Only the SDK's own class is replaced: a subclass is somebody's deliberate choice.
    Returns ``current`` itself when there is nothing to replace.
    """
    if type(current) is TraceContextTextMapPropagator:
        return TraceContextPropagator()
    inner = getattr(current, "_propagators", None)
    if isinstance(current, CompositePropagator) and isinstance(inner, (list, tuple)):
        swapped = [with_conformant_tracecontext(p) for p in inner]
        if all(new is old for new, old in zip(swapped, inner, strict=True)):
            return current
        return CompositePropagator(swapped)
    return current


__all__ = [
    "TraceContextPropagator",
    "W3CTraceState",
    "format_traceparent",
    "format_tracestate",
    "parse_traceparent",
    "parse_tracestate",
    "with_conformant_tracecontext",
]

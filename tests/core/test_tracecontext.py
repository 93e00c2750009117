"""botanu's W3C trace-context propagator, rule by rule (botanu._tracecontext).

The rules are the ones the W3C trace-context test suite checks (its ``test/`` folder),
restated here with cases of our own: what a service must continue, restart, keep, drop
or write. The real-server version is tests/zero_code/test_w3c_conformance.py.
"""

from __future__ import annotations

import logging

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry import propagate, trace
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.context import Context
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import TraceFlags
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.trace.span import TraceState

from botanu._config import resolve_settings
from botanu._tracecontext import (
    MAX_OUTBOUND_LENGTH,
    TraceContextPropagator,
    W3CTraceState,
    format_tracestate,
    parse_traceparent,
    parse_tracestate,
    with_conformant_tracecontext,
)
from botanu.propagation import install

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = "00f067aa0ba902b7"
VALID = f"00-{TRACE}-{PARENT}-01"

propagator = TraceContextPropagator()
tracer = TracerProvider().get_tracer("tests.tracecontext")


def received(headers: dict[str, list[str] | str]) -> trace.SpanContext:
    """The parent span context a server would continue from ``headers``."""
    carrier = {k: [v] if isinstance(v, str) else v for k, v in headers.items()}
    return trace.get_current_span(propagator.extract(carrier)).get_span_context()


def forwarded(headers: dict[str, list[str] | str]) -> dict[str, str]:
    """What a service that received ``headers`` sends on its next outgoing call."""
    ctx = propagator.extract({k: [v] if isinstance(v, str) else v for k, v in headers.items()})
    carrier: dict[str, str] = {}
    with tracer.start_as_current_span("server", context=ctx):
        with tracer.start_as_current_span("client", kind=trace.SpanKind.CLIENT):
            propagator.inject(carrier)
    return carrier


def state_of(headers: dict[str, list[str] | str]) -> str | None:
    return forwarded(headers).get("tracestate")


# --------------------------------------------------------------------------- traceparent


@pytest.mark.parametrize(
    "header",
    [
        VALID,
        f" {VALID}",
        f"\t{VALID}",
        f"{VALID} ",
        f"{VALID}\t",
        f" \t{VALID}\t ",
    ],
    ids=["plain", "leading-space", "leading-tab", "trailing-space", "trailing-tab", "both"],
)
def test_a_valid_traceparent_is_continued_with_blanks_around_it(header):
    parent = received({"traceparent": header})
    assert (parent.trace_id, parent.span_id, parent.is_remote) == (int(TRACE, 16), int(PARENT, 16), True)
    out = forwarded({"traceparent": header})["traceparent"]
    version, trace_id, span_id, flags = out.split("-")
    assert (version, trace_id, flags) == ("00", TRACE, "01")
    assert span_id not in (PARENT, "0" * 16)  # this service's own operation is the new parent


@pytest.mark.parametrize(
    "header",
    [
        # version 00 has exactly four fields
        f"{VALID}.",
        f"{VALID}-extra",
        f"{VALID}-",
        # version
        f"ff-{TRACE}-{PARENT}-01",
        f"0-{TRACE}-{PARENT}-01",
        f"000-{TRACE}-{PARENT}-01",
        f"x0-{TRACE}-{PARENT}-01",
        f"0x-{TRACE}-{PARENT}-01",
        f"AA-{TRACE}-{PARENT}-01",
        # trace-id
        f"00-{'0' * 32}-{PARENT}-01",
        f"00-{TRACE[:-1]}-{PARENT}-01",
        f"00-{TRACE}a-{PARENT}-01",
        f"00-{TRACE[:-1]}.-{PARENT}-01",
        f"00-{TRACE.upper()}-{PARENT}-01",
        f"00-{TRACE[:-2]}_1-{PARENT}-01",
        # parent-id
        f"00-{TRACE}-{'0' * 16}-01",
        f"00-{TRACE}-{PARENT[:-1]}-01",
        f"00-{TRACE}-{PARENT}a-01",
        f"00-{TRACE}-.{PARENT[1:]}-01",
        f"00-{TRACE}-{PARENT.upper()}-01",
        # flags
        f"00-{TRACE}-{PARENT}-1",
        f"00-{TRACE}-{PARENT}-001",
        f"00-{TRACE}-{PARENT}-.1",
        f"00-{TRACE}-{PARENT}-0G",
        # a later version must still have the version 00 layout, extra fields after a dash
        f"cc-{TRACE}-{PARENT}-01.future",
        f"cc-{TRACE}-{PARENT}-0",
        f"cc-{TRACE[:-1]}-{PARENT}-01-future",
        # separators
        f"00_{TRACE}_{PARENT}_01",
        f"00-{TRACE}-{PARENT}-01,00-{TRACE}-{PARENT}-01",  # two fields joined by the server
        "",
        "garbage",
        "\u00e9" * 55,
    ],
)
def test_an_invalid_traceparent_restarts_the_trace(header):
    assert parse_traceparent(header) is None
    assert not received({"traceparent": header}).is_valid
    out = forwarded({"traceparent": header, "tracestate": "foo=1"})
    assert out["traceparent"].split("-")[1] not in (TRACE, "0" * 32)
    # The tracestate of a traceparent that could not be read is not read either.
    assert "tracestate" not in out


@pytest.mark.parametrize(
    "header",
    [
        f"cc-{TRACE}-{PARENT}-01",
        f"cc-{TRACE}-{PARENT}-01-what-comes-later",
        f"01-{TRACE}-{PARENT}-01-x",
        f"fe-{TRACE}-{PARENT}-01-",
    ],
)
def test_a_later_version_is_read_by_the_version_00_layout_and_answered_as_00(header):
    out = forwarded({"traceparent": header})["traceparent"]
    assert out.startswith(f"00-{TRACE}-") and len(out) == 55


def test_two_traceparent_fields_restart_the_trace_even_if_each_is_valid():
    other = f"00-{'1' * 32}-{PARENT}-01"
    parent = received({"traceparent": [VALID, other]})
    assert not parent.is_valid
    assert forwarded({"traceparent": [VALID, VALID]})["traceparent"].split("-")[1] != TRACE


def test_no_traceparent_starts_a_trace_and_a_lone_tracestate_is_discarded():
    out = forwarded({"tracestate": "foo=1,bar=2"})
    assert out["traceparent"].startswith("00-") and "tracestate" not in out
    assert not received({}).is_valid


@pytest.mark.parametrize(
    ("flags", "sent"),
    [("00", "00"), ("01", "01"), ("02", "02"), ("03", "03"), ("ff", "03"), ("fc", "00"), ("09", "01")],
)
def test_flags_sampled_and_random_carried_reserved_bits_written_as_zero(flags, sent):
    # ParentBased sampling: the caller's sampled bit decides; random (Level 2) stays with the trace id.
    assert forwarded({"traceparent": f"00-{TRACE}-{PARENT}-{flags}"})["traceparent"].endswith(f"-{sent}")


def test_reserved_flag_bits_of_a_local_span_are_not_sent():
    ctx = trace.set_span_in_context(
        trace.NonRecordingSpan(trace.SpanContext(int(TRACE, 16), int(PARENT, 16), False, TraceFlags(0xFF)))
    )
    carrier: dict[str, str] = {}
    propagator.inject(carrier, ctx)
    assert carrier == {"traceparent": f"00-{TRACE}-{PARENT}-03"}


def test_no_valid_span_means_no_headers():
    carrier: dict[str, str] = {}
    propagator.inject(carrier, Context())
    assert carrier == {}


@settings(max_examples=300, deadline=None)
@given(
    st.integers(1, 2**128 - 1),
    st.integers(1, 2**64 - 1),
    st.integers(0, 255),
    st.integers(0, 254),
    st.sampled_from(["", "-", "-x", "-ab-cd"]),
)
def test_any_well_formed_traceparent_is_read_exactly(trace_id, span_id, flags, version, tail):
    if version == 0:
        tail = ""  # extra fields are only for later versions
    header = f"{version:02x}-{trace_id:032x}-{span_id:016x}-{flags:02x}{tail}"
    assert parse_traceparent(header) == (trace_id, span_id, flags & 0x03)


@settings(max_examples=500, deadline=None)
@given(st.integers(0, 54), st.characters(exclude_characters="0123456789abcdef-"))
def test_one_foreign_character_anywhere_in_the_layout_restarts(position, char):
    header = VALID[:position] + char + VALID[position + 1 :]
    if header.strip(" \t") == VALID:  # a blank at either end is optional whitespace
        return
    assert parse_traceparent(header) is None


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=120))
def test_any_text_as_traceparent_never_raises_and_never_yields_zero_ids(text):
    parsed = parse_traceparent(text)
    if parsed is not None:
        assert parsed[0] and parsed[1]
    forwarded({"traceparent": text, "tracestate": text})


# --------------------------------------------------------------------------- tracestate in


def test_tracestate_is_continued_in_order_across_fields():
    header = {
        "traceparent": VALID,
        "tracestate": ["foo=1,bar=2", "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE", "baz=3"],
    }
    assert state_of(header) == "foo=1,bar=2,rojo=00f067aa0ba902b7,congo=t61rcWkgMzE,baz=3"


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        (["foo=1 \t , \t bar=2, \t baz=3"], "foo=1,bar=2,baz=3"),
        (["foo=1\t \t,\t \tbar=2"], "foo=1,bar=2"),
        ([" foo=1"], "foo=1"),
        (["\tfoo=1"], "foo=1"),
        (["foo=1 "], "foo=1"),
        (["foo=1\t"], "foo=1"),
        (["\t foo=1 \t"], "foo=1"),
        (["foo=1,,bar=2"], "foo=1,bar=2"),
        (["foo=1, ,\t,bar=2"], "foo=1,bar=2"),
        ([",foo=1,"], "foo=1"),
        (["", "foo=1"], "foo=1"),
        (["foo=1", ""], "foo=1"),
        (["foo= 1"], "foo= 1"),  # leading spaces belong to the value
    ],
)
def test_blanks_and_empty_members_are_ignored(fields, expected):
    assert state_of({"traceparent": VALID, "tracestate": fields}) == expected


@pytest.mark.parametrize("fields", [[""], [" "], [",", " , "], ["\t"]])
def test_an_empty_tracestate_is_accepted_and_not_sent_on(fields):
    out = forwarded({"traceparent": VALID, "tracestate": fields})
    assert out["traceparent"].split("-")[1] == TRACE and "tracestate" not in out


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        (["foo=1,foo=1"], "foo=1"),
        (["foo=1,foo=2"], "foo=1"),
        (["foo=1", "foo=1"], "foo=1"),
        (["foo=1", "foo=2"], "foo=1"),
        (["a=1,foo=2,b=3,foo=4"], "a=1,foo=2,b=3"),
    ],
)
def test_a_repeated_key_keeps_its_left_most_entry_and_the_rest_of_the_list(fields, expected):
    out = forwarded({"traceparent": VALID, "tracestate": fields})
    assert out["traceparent"].split("-")[1] == TRACE
    assert out["tracestate"] == expected


ALL_KEY_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789_-*/"
ALL_VALUE_CHARS = "".join(chr(c) for c in range(0x20, 0x7F) if chr(c) not in ",=")


@pytest.mark.parametrize(
    "key",
    [
        ALL_KEY_CHARS,
        ALL_KEY_CHARS + "@" + ALL_KEY_CHARS[:14],
        "0vendor",
        "foo@",
        "foo@@bar",
        "foo@bar@baz",
        "z" * 256,
        "t" * 241 + "@" + "v" * 14,
        "t" * 242 + "@v",
        "t@" + "v" * 15,
        "t@" + "v" * 253,
    ],
    ids=lambda k: k if len(k) < 30 else f"{k[:8]}..{len(k)}",
)
def test_keys_of_the_current_grammar_are_kept(key):
    # Up to 256 characters of a-z 0-9 _ - * / @, the first a letter or digit; '@' anywhere after it.
    assert state_of({"traceparent": VALID, "tracestate": ["foo=1", f"{key}=1"]}) == f"foo=1,{key}=1"


@pytest.mark.parametrize(
    "member",
    [
        "foo =1",
        "FOO=1",
        "Foo=1",
        "foo.bar=1",
        "@foo=1",
        "_foo=1",
        "-foo=1",
        "*foo=1",
        "/foo=1",
        "z" * 257 + "=1",
        "t" * 242 + "@" + "v" * 14 + "=1",
        "f\u00f6o=1",
        "foo bar=1",
        "=1",
        "foo",
        "foo=",
        "foo=bar=baz",
        "foo=a,b",  # the ',' splits it: "b" has no '='
        "foo=\t1",
        "foo=1\t2",
        "foo=\u00e91",
        "foo=" + "x" * 257,
        "foo=\x7f",
    ],
    ids=lambda m: m if len(m) < 30 else f"{m[:8]}..{len(m)}",
)
def test_one_invalid_member_discards_the_whole_list_but_not_the_trace(member, caplog):
    with caplog.at_level(logging.DEBUG):
        for fields in (["bar=2", member], [f"{member},bar=2"]):
            out = forwarded({"traceparent": VALID, "tracestate": fields})
            assert out["traceparent"].split("-")[1] == TRACE
            assert "tracestate" not in out
    # The caller's text is not logged (the SDK's propagator logs each bad member in full).
    assert member not in caplog.text


def test_all_value_characters_are_kept_and_256_is_the_longest_value():
    value = ALL_VALUE_CHARS.rstrip(" ")
    assert state_of({"traceparent": VALID, "tracestate": f"foo={value}"}) == f"foo={value}"
    longest = "v" * 256
    assert state_of({"traceparent": VALID, "tracestate": f"foo={longest}"}) == f"foo={longest}"


def test_32_members_are_kept_33_discard_the_list():
    members = [f"bar{i:02d}={i:02d}" for i in range(1, 34)]
    fields = [",".join(members[i : i + 10]) for i in range(0, 30, 10)]
    kept = state_of({"traceparent": VALID, "tracestate": [*fields, ",".join(members[30:32])]})
    assert kept == ",".join(members[:32])
    assert state_of({"traceparent": VALID, "tracestate": [*fields, ",".join(members[30:33])]}) is None


def test_empty_members_do_not_count_towards_32():
    members = ",".join(f"k{i}=v" for i in range(32))
    assert state_of({"traceparent": VALID, "tracestate": [members + ",,, ,", ""]}) == members


def test_a_discarded_list_is_reported_once_per_process_without_its_content(caplog):
    from botanu import _safety

    _safety.reset_warnings()
    with caplog.at_level(logging.WARNING, logger="botanu"):
        for secret in ("Secret=1", "Another=2"):
            state_of({"traceparent": VALID, "tracestate": secret})
    lines = [r.getMessage() for r in caplog.records if "tracestate" in r.getMessage()]
    assert len(lines) == 1 and "key" in lines[0]
    assert "Secret" not in caplog.text and "Another" not in caplog.text


# --------------------------------------------------------------------------- tracestate out


def test_outbound_tracestate_stays_within_512_characters_large_members_leave_first():
    small = [f"s{i}={'x' * 50}" for i in range(6)]  # 6 x 53
    large = [f"l{i}={'y' * 200}" for i in range(2)]  # 2 x 203, over 128 each
    state = W3CTraceState(
        [(m.split("=")[0], m.split("=")[1]) for m in [small[0], large[0], *small[1:], large[1]]]
    )
    header = format_tracestate(state)
    # The two large ones go (right-most first) before any small one: 6 x 53 + 5 commas = 323.
    assert header == ",".join(small)
    assert len(header) <= MAX_OUTBOUND_LENGTH


def test_then_members_leave_from_the_right():
    members = [(f"k{i:02d}", "v" * 60) for i in range(10)]  # 64 characters each, 649 in all
    header = format_tracestate(W3CTraceState(members))
    assert header == ",".join(f"{k}={v}" for k, v in members[:7])  # 7 x 64 + 6 = 454; 8 would be 519


def test_exactly_512_characters_are_sent_whole():
    # 8 members of 63 characters and 7 commas: 511; the last value one longer: 512.
    members = [(f"k{i}", "v" * 60) for i in range(7)] + [("k7", "v" * 61)]
    header = format_tracestate(W3CTraceState(members))
    assert len(header) == 512 and header.count(",") == 7


def test_outbound_skips_what_would_not_read_back():
    class Loose(dict):
        """A tracestate mapping that holds anything, as a custom sampler's might."""

    loose = Loose({"ok": "1", "Bad": "1", "also": "x=y", "fine@": "2", "blank": " ", "n": 3})
    assert format_tracestate(loose) == "ok=1,fine@=2"  # type: ignore[arg-type]
    assert format_tracestate(TraceState([("a", "1"), ("b", "2")])) == "a=1,b=2"
    assert format_tracestate(None) == "" and format_tracestate(TraceState()) == ""


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.from_regex(r"[a-z0-9][a-z0-9_\-*/@]{0,40}", fullmatch=True),
            st.from_regex(
                r"[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,200}[\x21-\x2b\x2d-\x3c\x3e-\x7e]", fullmatch=True
            ),
        ),
        max_size=40,
    )
)
def test_what_botanu_sends_always_reads_back_within_the_limits(members):
    header = format_tracestate(W3CTraceState(members))
    if not header:
        return
    assert len(header) <= MAX_OUTBOUND_LENGTH
    again = parse_tracestate([header])  # would raise if a member were out of grammar
    assert len(again) <= 32 and len({k for k, _ in again}) == len(again)
    assert dict(again).items() <= dict(W3CTraceState(members).items()).items()


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet=st.characters(max_codepoint=0x7F), max_size=60), max_size=4))
def test_any_inbound_tracestate_gives_a_valid_header_or_none(fields):
    out = forwarded({"traceparent": VALID, "tracestate": fields})
    assert out["traceparent"].split("-")[1] == TRACE
    if "tracestate" in out:
        parse_tracestate([out["tracestate"]])


# --------------------------------------------------------------------------- the TraceState API


def test_the_trace_state_keeps_current_grammar_keys_through_add_update_delete():
    state = W3CTraceState([("foo@", "1"), ("t@" + "v" * 15, "2")])
    added = state.add("mine", "a")
    assert list(added.items()) == [("mine", "a"), ("foo@", "1"), ("t@" + "v" * 15, "2")]
    updated = added.update("foo@", "9")
    assert list(updated.keys()) == ["foo@", "mine", "t@" + "v" * 15]  # a changed key moves to the left
    assert updated["foo@"] == "9" and updated.to_header() == f"foo@=9,mine=a,t@{'v' * 15}=2"
    assert "foo@" not in updated.delete("foo@")
    # invalid or repeated input leaves it as it was
    assert state.add("foo@", "x") is state and state.add("Bad", "x") is state and state.delete("no") is state
    assert state.update("ok", "a,b") is state
    full = W3CTraceState([(f"k{i}", "v") for i in range(32)])
    assert full.add("one-more", "v") is full and full.update("one-more", "v") is full
    assert len(full.update("k5", "w")) == 32
    assert isinstance(state, TraceState) and len(W3CTraceState.get_default()) == 0


def test_from_header_discards_an_invalid_list():
    assert W3CTraceState.from_header(["foo@=1", "bar=2"]).to_header() == "foo@=1,bar=2"
    assert len(W3CTraceState.from_header(["@foo=1,bar=2"])) == 0


def test_an_app_adding_its_entry_keeps_the_inherited_ones():
    ctx = propagator.extract({"traceparent": [VALID], "tracestate": ["foo@=1,bar=2"]})
    inherited = trace.get_current_span(ctx).get_span_context().trace_state
    mine = inherited.add("botanu", "r1")
    parent = trace.get_current_span(ctx).get_span_context()
    own = trace.SpanContext(parent.trace_id, 0x1234, False, parent.trace_flags, mine)
    carrier: dict[str, str] = {}
    propagator.inject(carrier, trace.set_span_in_context(trace.NonRecordingSpan(own)))
    assert carrier["tracestate"] == "botanu=r1,foo@=1,bar=2"


# --------------------------------------------------------------------------- never raises


def test_a_misbehaving_getter_or_setter_never_reaches_the_app():
    class Broken:
        def get(self, carrier, key):
            raise RuntimeError("getter bug")

        def keys(self, carrier):
            return []

    class BrokenSetter:
        def set(self, carrier, key, value):
            raise RuntimeError("setter bug")

    assert propagator.extract({}, Context(), Broken()) == Context()
    with tracer.start_as_current_span("s"):
        propagator.inject({}, setter=BrokenSetter())


@pytest.mark.parametrize("value", ["00-x", 7, b"00-..", [None, 3], {"a": 1}])
def test_getters_answering_odd_types_are_read_as_absent_or_invalid(value):
    class Odd:
        def get(self, carrier, key):
            return value

        def keys(self, carrier):
            return []

    assert not trace.get_current_span(propagator.extract({}, Context(), Odd())).get_span_context().is_valid


def test_a_bare_string_from_a_getter_is_one_field():
    class Bare:
        def get(self, carrier, key):
            return carrier.get(key)

        def keys(self, carrier):
            return list(carrier)

    ctx = propagator.extract({"traceparent": VALID, "tracestate": "a=1"}, Context(), Bare())
    assert trace.get_current_span(ctx).get_span_context().trace_state.to_header() == "a=1"


# --------------------------------------------------------------------------- set-up


def test_the_stock_propagator_is_replaced_inside_composites_other_ones_are_left():
    class Mine(TraceContextTextMapPropagator):
        pass

    baggage = W3CBaggagePropagator()
    nested = CompositePropagator([CompositePropagator([TraceContextTextMapPropagator()]), baggage])
    swapped = with_conformant_tracecontext(nested)
    inner = swapped._propagators  # type: ignore[attr-defined]
    assert isinstance(inner[0]._propagators[0], TraceContextPropagator) and inner[1] is baggage
    assert isinstance(with_conformant_tracecontext(TraceContextTextMapPropagator()), TraceContextPropagator)
    mine = CompositePropagator([Mine(), baggage])
    assert with_conformant_tracecontext(mine) is mine
    assert with_conformant_tracecontext(baggage) is baggage


def _tracecontext_in(textmap) -> list[type]:
    found = []
    for p in getattr(textmap, "_propagators", [textmap]):
        found += _tracecontext_in(p) if isinstance(p, CompositePropagator) else [type(p)]
    return found


@pytest.fixture
def global_textmap():
    previous = propagate.get_global_textmap()
    yield
    propagate.set_global_textmap(previous)


def test_init_installs_it_with_or_without_a_baggage_propagator(clean_botanu, global_textmap, monkeypatch):
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")  # propagators are set up all the same
    import botanu

    propagate.set_global_textmap(
        CompositePropagator([TraceContextTextMapPropagator(), W3CBaggagePropagator()])
    )
    botanu.init(instrumentations=False)
    assert TraceContextPropagator in _tracecontext_in(propagate.get_global_textmap())
    assert TraceContextTextMapPropagator not in _tracecontext_in(propagate.get_global_textmap())

    propagate.set_global_textmap(TraceContextTextMapPropagator())  # OTEL_PROPAGATORS=tracecontext
    assert install(resolve_settings({}, {})) is False  # no baggage propagator: nothing for identity
    assert type(propagate.get_global_textmap()) is TraceContextPropagator


def test_a_run_replacing_a_stock_set_up_made_after_init_swaps_trace_context_too(clean_botanu, global_textmap):
    # The app sets the stock propagators itself after init(): the run-start check puts botanu's
    # baggage rules back and, replacing anyway, the conformant trace context with them.
    import botanu

    propagate.set_global_textmap(
        CompositePropagator([TraceContextTextMapPropagator(), W3CBaggagePropagator()])
    )
    with botanu.event(event_id="e1", customer_id="c1", workflow="W"):
        assert _tracecontext_in(propagate.get_global_textmap())[0] is TraceContextPropagator
    # Without a baggage propagator there is nothing to guard: the set-up is left as it is.
    only = CompositePropagator([TraceContextTextMapPropagator()])
    propagate.set_global_textmap(only)
    with botanu.event(event_id="e2", customer_id="c2", workflow="W"):
        assert propagate.get_global_textmap() is only


def test_the_global_propagator_after_init_forwards_a_current_grammar_tracestate(
    clean_botanu, global_textmap, monkeypatch
):
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    import botanu

    propagate.set_global_textmap(
        CompositePropagator([TraceContextTextMapPropagator(), W3CBaggagePropagator()])
    )
    botanu.init(instrumentations=False)
    ctx = propagate.extract({"traceparent": VALID, "tracestate": "foo=1,foo@=2,foo=3"})
    carrier: dict[str, str] = {}
    with tracer.start_as_current_span("s", context=ctx):
        propagate.inject(carrier)
    assert carrier["tracestate"] == "foo=1,foo@=2"

"""The scan budget is per item: a span or a log record costs a bounded time per MB of its text,
however many strings it is made of, and what is left unscanned when the budget runs out is
replaced (rule ``scan_limit``), never exported as it was.

The budget is the thread's CPU time, and this suite runs on busy machines: nothing here is timed.
The tests shrink the budget through its constants instead (``_budget.FLOOR_NS`` and
``NS_PER_CHAR``) and check that it cut in where it must, that nothing leaks whether or not it did,
and that ordinary items are not cut under the normal budget. benchmarks/bench_redaction_worst.py
reports the real figures (ms per MB of spans and log records made of many short strings).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from unittest import mock

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry import trace as trace_api
from opentelemetry.sdk.trace import ReadableSpan, SpanLimits, SpanProcessor, TracerProvider
from opentelemetry.trace import Status, StatusCode

from botanu.redaction import RedactingSpanProcessor, Redactor, redaction_stats
from botanu.redaction import _budget as budget_module

from .corpus import SECRETS

SLOW = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@contextmanager
def budget(floor_ns: int, ns_per_char: int = budget_module.NS_PER_CHAR) -> Iterator[None]:
    """Every item redacted inside gets this budget (the test hook: the constants it starts from)."""
    with (
        mock.patch.object(budget_module, "FLOOR_NS", floor_ns),
        mock.patch.object(budget_module, "NS_PER_CHAR", ns_per_char),
        mock.patch.object(budget_module, "EARLY_NS", min(budget_module.EARLY_NS, floor_ns)),
    ):
        yield


def nothing() -> Any:
    """No time at all: every scan is refused."""
    return budget(0, 0)


def tiny() -> Any:
    """A fraction of a millisecond: a few short strings are scanned, then the rest is cut."""
    return budget(300_000, 1)


# ---------------------------------------------------------------------- inputs


def unique(unit: str, length: int, index: int) -> str:
    """``length`` characters of ``unit`` repeated, ending in ``index`` (so that no cache helps)."""
    tail = f" {index:07d}"
    return (unit * (length // len(unit) + 1))[: length - len(tail)] + tail


# Each character a candidate for some detector: uncut, 0.4 to 1.5 us per character.
COSTLY: dict[str, Callable[[int, int], str]] = {
    "card-like digit groups": lambda n, i: unique("4111 ", n, i),
    "digits": lambda n, i: unique("1234567890", n, i),
    "password=x": lambda n, i: unique("password=x ", n, i),
    "relative urls": lambda n, i: unique("/p?a=1&b=2 ", n, i),
}
# Candidates too, but cheaper (70 to 130 ns per character): whether the normal budget cuts them
# depends on the machine.
CHEAPER: dict[str, Callable[[int, int], str]] = {
    "k=v list": lambda n, i: unique("a=1, ", n, i),
    "url with many params": lambda n, i: "https://h.example/p?" + unique("q=1&", n - 20, i),
    "near-miss secrets": lambda n, i: unique("ghp_AbCdEfGh1234 AKIAQ2W3E4R5 sk-ant-x eyJhbGci. ", n, i),
}
FAMILIES = {**COSTLY, **CHEAPER}

SPAN_SHAPES = ("span attributes", "span list attribute", "span events", "span links")
LOG_SHAPES = ("log body dict", "log body list", "log attributes")

_PROVIDER = TracerProvider(
    span_limits=SpanLimits(
        max_span_attributes=100_000,
        max_events=10_000,
        max_links=10_000,
        max_event_attributes=100_000,
        max_link_attributes=100_000,
        max_attribute_length=None,
    )
)


class Item:
    """A span or a log record carrying ``values`` in one shape, and its redacted form as exported."""

    def __init__(self, shape: str, values: Sequence[str], keys: Sequence[str] = ()) -> None:
        self.shape = shape
        keys = list(keys) + [f"app.field_{i}" for i in range(len(keys), len(values))]
        entries = dict(zip(keys, values, strict=False))
        groups = [dict(list(entries.items())[i : i + 10]) for i in range(0, len(entries), 10)]
        self.span: ReadableSpan | None = None
        self.body: Any = None
        self.attributes: Any = None
        if shape == "span attributes":
            self.span = _span(attributes=entries)
        elif shape == "span list attribute":
            self.span = _span(attributes={"values": tuple(values)})
        elif shape == "span events":
            self.span = _span(events=groups)
        elif shape == "span links":
            self.span = _span(links=groups)
        elif shape == "log body dict":
            self.body = entries
        elif shape == "log body list":
            self.body = list(values)
        else:
            self.attributes = entries

    def redact(self, redactor: Redactor) -> tuple[str, tuple[str, ...]]:
        """Every string of the exported item joined together, and the audit's rule names."""
        if self.span is not None:
            recorder = Recorder()
            RedactingSpanProcessor(recorder, redactor).on_end(self.span)
            (out,) = recorder.ended
            parts = [out.name, out.status.description, out.attributes]
            parts += [(event.name, event.attributes) for event in out.events]
            parts += [link.attributes for link in out.links]
            return "\x00".join(strings(parts)), tuple(out.attributes.get("botanu.redaction.rules", ()))
        body, attributes = redactor.redact_log(self.body, self.attributes)
        rules = tuple((attributes or {}).get("botanu.redaction.rules", ()))
        return "\x00".join(strings([body, attributes])), rules


class Recorder(SpanProcessor):
    def __init__(self) -> None:
        self.ended: list[ReadableSpan] = []

    def on_end(self, span: ReadableSpan) -> None:
        self.ended.append(span)


def _span(
    attributes: dict[str, Any] | None = None,
    events: Sequence[dict[str, Any]] = (),
    links: Sequence[dict[str, Any]] = (),
    name: str = "GET /v1/orders",
    description: str | None = None,
) -> ReadableSpan:
    """An ended SDK span that no processor has seen (each test redacts it itself)."""
    context = trace_api.SpanContext(trace_id=7, span_id=9, is_remote=False)
    span = _PROVIDER.get_tracer("test").start_span(
        name, attributes=attributes, links=[trace_api.Link(context, group) for group in links]
    )
    for group in events:
        span.add_event("event", group)
    if description is not None:
        span.set_status(Status(StatusCode.ERROR, description))
    span.end()
    return span  # type: ignore[return-value]


def strings(value: Any) -> Iterator[str]:
    """Every string in a value: keys and values of mappings, items of sequences."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, bytes):
        yield value.decode("latin-1")
    elif hasattr(value, "items"):
        for key, item in value.items():
            yield from strings(key)
            yield from strings(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from strings(item)


def adversarial(family: str, count: int, length: int) -> list[str]:
    return [FAMILIES[family](length, i) for i in range(count)]


shapes = st.sampled_from(SPAN_SHAPES + LOG_SHAPES)
# 0.4 to 2 MB of text in strings of 200 to 1000 characters (short: each is scanned whole).
sizes = st.tuples(
    st.integers(min_value=400, max_value=2000), st.integers(min_value=200, max_value=1000)
).filter(lambda size: 400_000 <= size[0] * size[1] <= 2_000_000)


# ---------------------------------------------------------------------- (a) the budget cuts in


@SLOW
@given(family=st.sampled_from(sorted(FAMILIES)), shape=shapes, size=sizes)
def test_a_small_budget_cuts_an_item_of_many_short_strings(
    family: str, shape: str, size: tuple[int, int]
) -> None:
    count, length = size
    item = Item(shape, adversarial(family, count, length))
    with tiny():
        text, rules = item.redact(Redactor())
    assert "scan_limit" in rules
    # Replaced, not dropped: one marker per value refused, or one for the rest of a list or mapping.
    assert "not scanned]" in text
    # Cut early: most of the text is gone (without the budget, every value is scanned whole).
    assert len(text) < count * length / 2


@SLOW
@given(family=st.sampled_from(sorted(COSTLY)), shape=shapes, size=sizes)
def test_the_normal_budget_cuts_costly_items_too(family: str, shape: str, size: tuple[int, int]) -> None:
    # Uncut, these cost 0.2 to 3 s of CPU time; the budget is at most 20 ms + 90 ms per MB
    # (twice that is still far below).
    count, length = size
    text, rules = Item(shape, adversarial(family, count, length)).redact(Redactor())
    assert "scan_limit" in rules
    assert "not scanned]" in text


def test_the_cut_is_counted_in_the_stats() -> None:
    with nothing():
        Item("log body list", adversarial("password=x", 50, 300)).redact(Redactor())
        Item("span attributes", adversarial("password=x", 50, 300)).redact(Redactor())
    by_rule = redaction_stats()["by_rule"]
    assert by_rule["scan_limit"] >= 2


# ---------------------------------------------------------------------- (b) nothing leaks


planted = st.lists(
    st.tuples(
        st.sampled_from(SECRETS),
        st.integers(min_value=0, max_value=10**6),
        st.sampled_from(["value", "appended", "key"]),
    ),
    min_size=1,
    max_size=5,
)


@SLOW
@given(
    family=st.sampled_from(sorted(FAMILIES)),
    shape=shapes,
    count=st.integers(min_value=300, max_value=1500),
    length=st.integers(min_value=300, max_value=900),
    secrets=planted,
    which=st.sampled_from(["nothing", "tiny", "normal"]),
)
def test_a_planted_secret_is_masked_or_cut_never_exported(
    family: str, shape: str, count: int, length: int, secrets: list[tuple[Any, int, str]], which: str
) -> None:
    values = adversarial(family, count, length)
    keys = [f"app.field_{i}" for i in range(count)]
    for secret, position, how in secrets:
        at = position % count
        if how == "value":
            values[at] = secret.text
        elif how == "appended":  # after the adversarial text, on a line of its own
            values[at] = values[at] + "\n" + secret.text + "\n"
        elif "\n" not in secret.text:  # (a key with a line break is not a realistic key)
            keys[at] = "app." + secret.text
    with {"nothing": nothing, "tiny": tiny, "normal": lambda: budget(budget_module.FLOOR_NS)}[which]():
        text, _rules = Item(shape, values, keys).redact(Redactor())
    for secret, _position, _how in secrets:
        assert secret.needle not in text
        for extra in secret.also:
            assert extra not in text


def test_a_long_string_after_the_budget_ran_out_is_not_scanned_either() -> None:
    # The long string (chunked, with a budget check per chunk) draws on the item's budget: the
    # short values before it used it up.
    trace = (
        "Traceback (most recent call last):\n  File 'app.py', line 3\n" * 2000
        + "token=ghp_R4nd0mT0k3nV4lu3F0rT3st1ngPurp0s3sX"
    )
    body = [*adversarial("card-like digit groups", 2000, 500), trace]
    with budget(2_000_000):
        text, rules = Item("log body list", body).redact(Redactor())
    assert "scan_limit" in rules
    assert "ghp_R4nd0mT0k3nV4lu3F0rT3st1ngPurp0s3sX" not in text
    assert "Traceback" not in text


def test_span_name_and_status_description_are_cut_too() -> None:
    span = _span(name="GET /v1/orders/8841 for customer 1234", description="timeout after token=abc123")
    recorder = Recorder()
    with nothing():
        RedactingSpanProcessor(recorder, Redactor()).on_end(span)
    (out,) = recorder.ended
    assert out.name == "[REDACTED: 37 chars not scanned]"
    assert out.status.description == "[REDACTED: 26 chars not scanned]"
    assert out.attributes["botanu.redaction.rules"] == ("scan_limit",)


# ---------------------------------------------------------------------- (c) ordinary items are not cut

ORDINARY = (
    "order {i} shipped to warehouse B-{i}",
    "GET /v1/orders/{i}?page=2&limit=50 returned 200 in 12.5 ms",
    "user u-{i} signed in from the mobile app (build 7.{i})",
    "ValueError: quantity must be positive, got -{i}",
    "SELECT id, total FROM orders WHERE customer_id = {i} LIMIT 50",
    "https://api.example.com/v1/items/{i}?expand=true",
    "cust-{i}",
    "{i}",
)
REPEATED = ("GET", "POST", "production", "checkout", "/v1/orders/{id}", "payments.internal", "200")


def ordinary(count: int, start: int) -> list[str]:
    return [ORDINARY[i % len(ORDINARY)].format(i=start + i) for i in range(count)]


def _not_cut(make: Callable[[], Item]) -> None:
    # CPU time still stretches on a machine busy with other work (caches, frequency): an item
    # must fit the budget, if not in one try then in three, each with a new Redactor (nothing cached).
    for _ in range(3):
        text, rules = make().redact(Redactor())
        if "scan_limit" not in rules:
            break
    assert "scan_limit" not in rules
    assert "not scanned]" not in text


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    shape=shapes,
    new=st.integers(min_value=1, max_value=500),
    repeated=st.integers(min_value=0, max_value=3000),
    start=st.integers(min_value=0, max_value=10**9),
)
def test_ordinary_items_with_many_values_are_not_cut(shape: str, new: int, repeated: int, start: int) -> None:
    # Up to 500 values never seen before (the costliest for their size), and thousands of values
    # seen before or short enough to need no scan. A key never seen before costs about as much as
    # a value: a mapping gets up to a thousand entries (many thousands of new keys in one item
    # are cut, as anything else that costs more than the budget).
    if shape not in ("span list attribute", "log body list"):
        repeated = min(repeated, 500)
    values = ordinary(new, start) + [REPEATED[i % len(REPEATED)] for i in range(repeated)]
    _not_cut(lambda: Item(shape, values))


def test_an_ordinary_span_at_the_sdk_default_limits_is_not_cut() -> None:
    # 128 attributes and 128 events of 8 attributes (the SDK's default limits), values all new.
    def make() -> Item:
        item = Item("span attributes", [])
        events = [
            dict(zip([f"event.field_{j}" for j in range(8)], ordinary(8, 1000 * i), strict=True))
            for i in range(128)
        ]
        item.span = _span(
            attributes=dict(zip([f"app.field_{i}" for i in range(128)], ordinary(128, 7), strict=True)),
            events=events,
        )
        return item

    _not_cut(make)


# ---------------------------------------------------------------------- how it works


def test_what_was_cut_is_not_cached_and_is_scanned_by_a_later_item() -> None:
    redactor = Redactor()
    value = "note: password=hunter2-correct-horse"
    key = "user.password_reset_link_for_customer"
    with nothing():
        first = redactor.redact_log({key: value}, None)[0]
    assert list(first.values()) == ["[REDACTED: 36 chars not scanned]"]
    assert key not in first  # the key itself could not be scanned either
    second = redactor.redact_log({key: value}, None)[0]
    assert second == {key: "note: password=[REDACTED]"}


def test_the_rest_of_a_list_or_mapping_is_replaced_in_one_piece() -> None:
    values = adversarial("password=x", 1000, 60)
    with nothing():
        body = Redactor().redact_log(values, None)[0]
        mapping = Redactor().redact_log({f"k{i}": value for i, value in enumerate(values)}, None)[0]
    assert body == ("[REDACTED: 60 chars not scanned]", "[REDACTED: 999 more values not scanned]")
    assert mapping == {
        "k0": "[REDACTED: 60 chars not scanned]",
        "[REDACTED: not scanned]": "[REDACTED: 999 more values not scanned]",
    }


def test_values_known_from_the_caches_never_start_a_budget() -> None:
    started = []
    original = budget_module.Budget.__init__

    def counting(self: Any, pii: bool) -> None:
        started.append(1)
        original(self, pii)

    redactor = Redactor()
    attributes = {
        "http.route": "/v1/orders/{id}",
        "server.address": "payments.internal",
        "note": "all good here",
    }
    body = {"event": "order shipped to the customer", "items": ["a", "b"]}
    span = _span(attributes=attributes, events=[{"note": "retry scheduled in 5 s"}])
    recorder = Recorder()
    processor = RedactingSpanProcessor(recorder, redactor)
    processor.on_end(span)
    redactor.redact_log(body, attributes)
    with mock.patch.object(budget_module.Budget, "__init__", counting):
        processor.on_end(span)
        redactor.redact_log(body, attributes)
    assert started == []


def test_a_nested_item_gives_the_outer_budget_back() -> None:
    inner = Redactor()
    seen: list[Any] = []

    def callback(key: str, value: Any, redacted: Any) -> Any:
        before = budget_module.CURRENT.budget
        inner.redact_text("an ordinary sentence, scanned as an item of its own")
        seen.append(before is budget_module.CURRENT.budget)
        return redacted

    Redactor(callback=callback).redact_attributes({"a": "first value here", "b": "second value here"})
    assert seen == [True, True]
    assert budget_module.CURRENT.budget is None  # no item open between items


def test_budgets_are_per_thread() -> None:
    results: list[Any] = []

    @budget_module.one_item
    def over_budget_while(work: Callable[[], Any]) -> bool:
        assert not budget_module.allows(False, 10**9)  # a scan of a billion characters does not fit
        thread = threading.Thread(target=lambda: results.append(work()))
        thread.start()
        thread.join()
        return budget_module.exhausted()

    assert over_budget_while(lambda: Redactor().redact_log("an ordinary message, scanned in full", None))
    assert results == [("an ordinary message, scanned in full", None)]

"""act() / assert_() on the wire: every parameter form, as the collector receives it."""

from __future__ import annotations

import logging
import uuid
import warnings

import pytest

import botanu
from botanu.flows import act, assert_, define_flow
from tests.flows._helpers import exported, exported_span, named


def test_act_span_carries_the_node_and_its_flattened_data(botanu_init, otlp_receiver):
    botanu_init()
    act(
        "payment_processed",
        "checkout",
        "run_1",
        {
            "amount": 99.5,
            "count": 3,
            "ok": True,
            "currency": "USD",
            "card": {"brand": "visa", "meta": {"country": "NL"}},
            "tags": ["a", "b"],
            "mixed": [1, "x"],
            "items": [{"sku": "s1"}],
            "nothing": None,
        },
        dep_ids=["cart_created"],
        description="card charged",
    )
    span = exported_span(otlp_receiver, "checkout.payment_processed")
    assert span.kind == "INTERNAL"
    a = span.attributes
    assert a["botanu.flow"] == "checkout"
    assert a["botanu.run_id"] == "run_1"
    assert a["botanu.node.id"] == "payment_processed"
    assert a["botanu.node.type"] == "act"
    assert a["botanu.node.dep_ids"] == ("cart_created",)
    assert a["botanu.node.description"] == "card charged"
    assert a["botanu.data.amount"] == 99.5
    assert a["botanu.data.count"] == 3
    assert a["botanu.data.ok"] is True
    assert a["botanu.data.currency"] == "USD"
    assert a["botanu.data.card.brand"] == "visa"
    assert a["botanu.data.card.meta.country"] == "NL"
    assert a["botanu.data.tags"] == ("a", "b")
    assert a["botanu.data.mixed"] == '[1, "x"]'
    assert a["botanu.data.items"] == '[{"sku": "s1"}]'
    assert "botanu.data.nothing" not in a
    assert "botanu.assert.passed" not in a
    assert span.status_code == "UNSET"


def test_data_is_bounded(botanu_init, otlp_receiver):
    botanu_init()
    data = {f"k{i:03}": i for i in range(100)}
    data["k000"] = "x" * 10_000
    act("big", "bounded", "r", data)
    a = exported_span(otlp_receiver, "bounded.big").attributes
    data_keys = [k for k in a if k.startswith("botanu.data.") and k != "botanu.data._truncated"]
    assert len(data_keys) == 64
    assert a["botanu.data._truncated"] == 36
    assert len(a["botanu.data.k000"]) < 4200 and a["botanu.data.k000"].endswith("[truncated]")


def test_run_id_defaults_to_the_current_botanu_run_and_the_span_joins_its_trace(botanu_init, otlp_receiver):
    botanu_init()
    with botanu.event(event_id="ord_1", customer_id="cus_1", workflow="Checkout") as run:
        act("payment_processed", "checkout", data={"amount": 1})
        act("explicit_none", "checkout", None)
    spans = exported(otlp_receiver)
    run_span = named(spans, "botanu.run/Checkout")[0]
    for name in ("checkout.payment_processed", "checkout.explicit_none"):
        span = named(spans, name)[0]
        assert span.attributes["botanu.run_id"] == run.run_id
        assert span.trace_id == run_span.trace_id
        assert span.parent_span_id == run_span.span_id
        # The run's identity is stamped like on every span inside the run.
        assert span.attributes["botanu.customer_id"] == "cus_1"
        assert span.attributes["botanu.workflow"] == "Checkout"


def test_an_explicit_flow_run_id_inside_a_run_keeps_the_enclosing_run_findable(botanu_init, otlp_receiver):
    botanu_init()
    define_flow("co", ["pay"])
    with botanu.event(event_id="ord_1", customer_id="cus_1", workflow="Checkout") as run:
        act("pay", "co", "order-42")
        act("same", "other", run.run_id)
    spans = exported(otlp_receiver)
    node = named(spans, "co.pay")[0]
    assert node.attributes["botanu.run_id"] == "order-42"
    assert node.attributes["botanu.enclosing_run_id"] == run.run_id
    verdict = named(spans, "botanu.flow.run")[0]
    assert verdict.attributes["botanu.run_id"] == "order-42"
    assert verdict.attributes["botanu.enclosing_run_id"] == run.run_id
    # Nothing to add when the flow run is the botanu run, or outside any run.
    assert "botanu.enclosing_run_id" not in named(spans, "other.same")[0].attributes
    act("outside", "other", "order-43")
    assert "botanu.enclosing_run_id" not in named(exported(otlp_receiver), "other.outside")[0].attributes


def test_callable_run_id_dep_ids_and_filter(botanu_init, otlp_receiver):
    botanu_init()
    act("a", "f", run_id=lambda: "from-callable", dep_ids=lambda: ["x", "y"], filter=lambda: True)
    act("b", "f", run_id="r", filter=True)
    act("c", "f", run_id="r", filter=False)
    act("d", "f", run_id="r", filter=lambda: False)
    act("e", "f", run_id=12345)  # integer ids are converted
    act("g", "f", run_id=uuid.UUID(int=7))
    spans = exported(otlp_receiver)
    assert named(spans, "f.a")[0].attributes["botanu.run_id"] == "from-callable"
    assert named(spans, "f.a")[0].attributes["botanu.node.dep_ids"] == ("x", "y")
    assert named(spans, "f.b")[0].attributes["botanu.node.dep_ids"] == ()
    assert not named(spans, "f.c") and not named(spans, "f.d")
    assert named(spans, "f.e")[0].attributes["botanu.run_id"] == "12345"
    assert named(spans, "f.g")[0].attributes["botanu.run_id"] == str(uuid.UUID(int=7))


def test_callables_are_called_once_at_call_time(botanu_init):
    botanu_init()
    calls = []
    act(
        "a",
        "f",
        run_id=lambda: calls.append("run_id") or "r",
        dep_ids=lambda: calls.append("deps") or [],
        filter=lambda: calls.append("filter") or True,
    )
    assert sorted(calls) == ["deps", "filter", "run_id"]


def test_assert_with_passing_validator(botanu_init, otlp_receiver):
    botanu_init()
    seen = {}

    def validator(data, ctx):
        seen.update(data=data, ctx=ctx)
        return data["total"] == 150

    assert_("total_ok", "checkout", "r1", {"total": 150}, validator=validator, description="sum matches")
    span = exported_span(otlp_receiver, "checkout.total_ok")
    assert span.attributes["botanu.node.type"] == "assert"
    assert span.attributes["botanu.assert.passed"] is True
    assert span.status_code == "UNSET"
    assert seen["data"] == {"total": 150}
    assert seen["ctx"] == {"flow": "checkout", "run_id": "r1", "id": "total_ok", "deps": []}


def test_assert_without_validator_passes(botanu_init, otlp_receiver):
    botanu_init()
    assert_("happened", "f", "r")
    assert exported_span(otlp_receiver, "f.happened").attributes["botanu.assert.passed"] is True


def test_failed_assertion_marks_the_span_error(botanu_init, otlp_receiver):
    botanu_init()
    assert_("total_ok", "checkout", "r1", {"total": 140}, validator=lambda data, ctx: data["total"] == 150)
    span = exported_span(otlp_receiver, "checkout.total_ok")
    assert span.attributes["botanu.assert.passed"] is False
    assert span.status_code == "ERROR"
    assert span.status_message == "assertion checkout.total_ok failed: validator returned False"


def test_raising_validator_counts_as_failed_and_never_reaches_the_caller(botanu_init, otlp_receiver):
    botanu_init(strict=True)  # even strict mode: the user's validator failing is a verdict, not misuse

    def validator(data, ctx):
        raise KeyError("items")

    assert_("total_ok", "checkout", "r1", {"total": 1}, validator=validator)
    span = exported_span(otlp_receiver, "checkout.total_ok")
    assert span.attributes["botanu.assert.passed"] is False
    assert span.status_code == "ERROR"
    assert span.status_message == "assertion checkout.total_ok failed: validator raised KeyError: 'items'"
    exceptions = [attrs for name, attrs in span.events if name == "exception"]
    assert exceptions and exceptions[0]["exception.type"] == "KeyError"
    assert "Traceback" in exceptions[0]["exception.stacktrace"]


def test_validator_ctx_has_the_data_of_dependencies_seen_in_this_run(botanu_init):
    botanu_init()
    seen = []
    act("order_completed", "checkout", "r1", {"items": [10, 20]})
    act("order_completed", "checkout", "other-run", {"items": [99]})
    act("unrelated", "checkout", "r1", {"x": 1})
    assert_(
        "total_ok",
        "checkout",
        "r1",
        {"total": 30},
        dep_ids=["order_completed", "never_seen"],
        validator=lambda data, ctx: seen.append(ctx["deps"]) or True,
    )
    assert seen == [[{"flow": "checkout", "id": "order_completed", "data": {"items": [10, 20]}}]]


def test_declared_dependencies_are_used_when_dep_ids_is_omitted(botanu_init, otlp_receiver):
    botanu_init()
    botanu.flows.define_flow("checkout", ["pay", {"id": "total", "dep_ids": ["pay"]}])
    seen = []
    act("pay", "checkout", "r1", {"amount": 5})
    assert_(
        "total", "checkout", "r1", {"total": 5}, validator=lambda data, ctx: seen.append(ctx["deps"]) or True
    )
    assert seen == [[{"flow": "checkout", "id": "pay", "data": {"amount": 5}}]]
    assert exported_span(otlp_receiver, "checkout.total").attributes["botanu.node.dep_ids"] == ("pay",)


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"id": "", "flow": "f", "run_id": "r"}, "id must be a non-empty string"),
        ({"id": "a", "flow": None, "run_id": "r"}, "flow must be a non-empty string"),
        ({"id": "a", "flow": "f"}, "needs a run_id outside a botanu.event() run"),
        ({"id": "a", "flow": "f", "run_id": ""}, "run_id must be a non-empty string"),
        ({"id": "a", "flow": "f", "run_id": "r", "data": [1, 2]}, "data must be a mapping"),
        ({"id": "a", "flow": "f", "run_id": "r", "dep_ids": "b"}, "dep_ids must be a list"),
        ({"id": "a", "flow": "f", "run_id": "r", "dep_ids": [1]}, "dep_ids must be a list"),
        ({"id": "a", "flow": "f", "run_id": "r", "filter": "yes"}, "filter must be a bool"),
        ({"id": "a", "flow": "f", "run_id": lambda: 1 / 0}, "run_id callable raised ZeroDivisionError"),
        ({"id": "a", "flow": "f", "run_id": "r", "filter": lambda: 1 / 0}, "filter callable raised"),
    ],
)
def test_bad_input_warns_once_and_records_nothing(botanu_init, otlp_receiver, caplog, kwargs, message):
    botanu_init()
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="botanu"):
        for _ in range(3):
            act(**kwargs)  # same call site: one warning
    warnings_logged = [r.getMessage() for r in caplog.records if "botanu:" in r.getMessage()]
    assert len(warnings_logged) == 1 and message in warnings_logged[0], warnings_logged
    assert "test_act_assert.py" in warnings_logged[0]  # points at the user's line
    assert not [s for s in exported(otlp_receiver) if s.name.startswith(("f.", "."))]


def test_bad_validator_is_rejected(botanu_init, otlp_receiver, caplog):
    botanu_init()
    with caplog.at_level(logging.WARNING, logger="botanu"):
        assert_("a", "f", "r", validator="not callable")
    assert "validator must be a callable" in caplog.text
    assert not named(exported(otlp_receiver), "f.a")


def test_strict_mode_raises_on_bad_input(botanu_init):
    botanu_init(strict=True)
    with pytest.raises(botanu.BotanuUsageError, match="needs a run_id"):
        act("a", "f")
    with pytest.raises(botanu.BotanuUsageError, match="data must be a mapping"):
        assert_("a", "f", "r", data="x")


async def _async_run_id() -> str:
    return "r"


async def _async_validator(data, ctx) -> bool:
    return True


class _AsyncCallable:
    async def __call__(self) -> bool:
        return True


@pytest.mark.parametrize(
    "kwargs",
    [
        {"run_id": _async_run_id},
        {"run_id": "r", "filter": _AsyncCallable()},
        {"run_id": "r", "validator": _async_validator},
        {"run_id": "r", "dep_ids": lambda: _async_run_id()},  # a plain lambda returning a coroutine
    ],
)
def test_async_callables_are_rejected_with_a_clear_warning(botanu_init, otlp_receiver, caplog, kwargs):
    botanu_init()
    with caplog.at_level(logging.WARNING, logger="botanu"), warnings.catch_warnings():
        warnings.simplefilter("error")  # a coroutine left un-awaited would warn: botanu closes it
        assert_("a", "f", **kwargs)
    assert "async callable" in caplog.text or "returned an awaitable" in caplog.text
    assert "pass a plain function" in caplog.text
    assert not named(exported(otlp_receiver), "f.a")


def test_validator_returning_an_awaitable_fails_the_assertion(botanu_init, otlp_receiver, caplog):
    botanu_init()
    with caplog.at_level(logging.WARNING, logger="botanu"):
        assert_("a", "f", "r", validator=lambda data, ctx: _async_validator(data, ctx))
    assert "validator returned an awaitable" in caplog.text
    span = exported_span(otlp_receiver, "f.a")
    assert span.attributes["botanu.assert.passed"] is False


def test_internal_failure_never_reaches_the_caller(botanu_init, monkeypatch, caplog):
    botanu_init(strict=True)
    from botanu.flows import _api

    def broken(*args, **kwargs):
        raise RuntimeError("bug in botanu")

    monkeypatch.setattr(_api, "emit_node_span", broken)
    with caplog.at_level(logging.ERROR, logger="botanu"):
        act("a", "f", "r")
    assert "internal error in recording a flow node" in caplog.text


def test_works_without_init(clean_botanu):
    # Before botanu.init() the spans are no-ops, but nothing breaks.
    act("a", "f", "r", {"x": 1})
    assert_("b", "f", "r", validator=lambda data, ctx: False)


def test_validator_result_that_is_not_a_bool_fails_the_assertion(botanu_init, otlp_receiver):
    class Ambiguous:  # like a numpy array or pandas Series
        def __bool__(self):
            raise ValueError("truth value is ambiguous")

    botanu_init()
    botanu.assert_(
        "total_ok", "checkout", run_id="r-1", data={"total": 1}, validator=lambda d, c: Ambiguous()
    )
    assert botanu.force_flush(5)
    span = next(s for s in otlp_receiver.wait_for_spans(1) if s.name == "checkout.total_ok")
    assert span.attributes["botanu.assert.passed"] is False
    assert span.status_code == "ERROR"


@pytest.mark.parametrize(
    ("result", "passed"), [("total mismatch", True), ([], False), (None, False), (1, True)]
)
def test_a_validator_returning_no_bool_is_warned_about(botanu_init, otlp_receiver, caplog, result, passed):
    botanu_init()
    with caplog.at_level(logging.WARNING, logger="botanu"):
        assert_("v", "f", "r", validator=lambda data, ctx: result)
    span = exported_span(otlp_receiver, "f.v")
    assert span.attributes["botanu.assert.passed"] is passed
    expected = f"validator returned {type(result).__name__}, not a bool; it counts as "
    assert expected + ("passed" if passed else "failed") in caplog.text


def test_a_validator_returning_a_bool_is_not_warned_about(botanu_init, otlp_receiver, caplog):
    botanu_init()
    with caplog.at_level(logging.WARNING, logger="botanu"):
        assert_("v", "f", "r", validator=lambda data, ctx: False)
        assert_("w", "f", "r", validator=lambda data, ctx: True)
    assert "not a bool" not in caplog.text

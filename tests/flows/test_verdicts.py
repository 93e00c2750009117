"""In-process verdicts of declared flows, as ``botanu.flow.run`` spans on the wire."""

from __future__ import annotations

import time

import botanu
from botanu import flows
from botanu.flows import act, assert_, define_flow
from botanu.flows._runs import tracker
from tests.flows._helpers import exported, named, node_events, verdicts, wait_until

CHECKOUT = [
    {"id": "payment", "type": "act"},
    {"id": "inventory", "type": "act", "dep_ids": ["payment"]},
    {"id": "total", "type": "assert", "dep_ids": ["inventory"]},
]


def test_passing_run_gets_one_final_verdict_in_the_runs_trace(botanu_init, otlp_receiver):
    botanu_init()
    define_flow("checkout", CHECKOUT)
    with botanu.event(event_id="o1", customer_id="cus_1", workflow="Checkout") as run:
        with botanu.step("pay"):
            act("payment", "checkout", data={"amount": 10})
        act("inventory", "checkout")
        assert_("total", "checkout", data={"total": 10}, validator=lambda data, ctx: True)
        act("payment", "checkout")  # a late duplicate changes nothing
    spans = exported(otlp_receiver)
    verdict = verdicts(spans)[run.run_id]
    assert len(named(spans, "botanu.flow.run")) == 1
    a = verdict.attributes
    assert a["botanu.flow"] == "checkout"
    assert a["botanu.flow.verdict"] == "passed"
    assert a["botanu.flow.final"] is True
    assert a["botanu.flow.nodes.passed"] == ("payment", "inventory", "total")
    assert a["botanu.flow.nodes.failed"] == () and a["botanu.flow.nodes.pending"] == ()
    assert a["botanu.customer_id"] == "cus_1" and "botanu.step" not in a
    assert verdict.status_code == "UNSET"
    run_span = named(spans, "botanu.run/Checkout")[0]
    # A child of the run span (not of the step that saw the first node), in the run's trace.
    assert verdict.trace_id == run_span.trace_id and verdict.parent_span_id == run_span.span_id
    assert node_events(verdict)["total"] == {
        "botanu.node.id": "total",
        "botanu.node.status": "passed",
        "botanu.node.type": "assert",
    }


def test_failed_validator_fails_the_run_at_once(botanu_init, otlp_receiver):
    botanu_init()
    define_flow("checkout", CHECKOUT)
    act("payment", "checkout", "r1")
    act("inventory", "checkout", "r1")
    assert_("total", "checkout", "r1", {"total": 3}, validator=lambda data, ctx: data["total"] == 4)
    verdict = verdicts(exported(otlp_receiver))["r1"]
    assert verdict.attributes["botanu.flow.verdict"] == "failed"
    assert verdict.attributes["botanu.flow.nodes.failed"] == ("total",)
    assert verdict.status_code == "ERROR"
    assert verdict.status_message == "flow checkout failed: total: validator returned False"
    assert node_events(verdict)["total"]["botanu.node.reason"] == "validator returned False"


def test_node_arriving_before_its_dependency_fails(botanu_init, otlp_receiver):
    botanu_init()
    define_flow("checkout", CHECKOUT)
    act("payment", "checkout", "r1")
    act("total", "checkout", "r1")  # before inventory
    verdict = verdicts(exported(otlp_receiver))["r1"]
    assert verdict.attributes["botanu.flow.verdict"] == "failed"
    reason = node_events(verdict)["total"]["botanu.node.reason"]
    assert reason == "arrived, but its dependency inventory has not"
    # Emitted as soon as it failed: inventory is still pending.
    assert verdict.attributes["botanu.flow.nodes.pending"] == ("inventory",)


def test_node_timeout_fails_the_run_from_the_timer_thread(botanu_init, otlp_receiver):
    botanu_init()
    define_flow(
        "slow",
        [
            "start",
            {"id": "reply", "dep_ids": ["start"], "timeout": 0.05},
            {"id": "after", "dep_ids": ["reply"]},
        ],
    )
    began = time.monotonic()
    act("start", "slow", "r1")
    assert tracker.verdicts_emitted == 0  # still running: nothing emitted yet
    # No further calls: the daemon timer alone must notice the timeout.
    assert wait_until(lambda: tracker.verdicts_emitted == 1)
    assert time.monotonic() - began >= 0.05
    verdict = verdicts(exported(otlp_receiver))["r1"]
    a = verdict.attributes
    assert a["botanu.flow.verdict"] == "failed" and a["botanu.flow.final"] is True
    assert a["botanu.flow.nodes.passed"] == ("start",)
    assert a["botanu.flow.nodes.failed"] == ("reply",)
    assert a["botanu.flow.nodes.skipped"] == ("after",)  # its dependency never happened
    events = node_events(verdict)
    assert (
        events["reply"]["botanu.node.reason"] == "did not arrive within 50ms after its dependencies arrived"
    )
    assert events["after"]["botanu.node.reason"] == "dependency reply did not happen"


def test_timeouts_are_checked_lazily_on_later_calls_without_the_timer(botanu_init, otlp_receiver):
    botanu_init()
    flows.configure(timer=False)
    define_flow("slow", ["start", {"id": "reply", "dep_ids": ["start"], "timeout": 0.02}])
    act("start", "slow", "r1")
    time.sleep(0.03)
    assert tracker.verdicts_emitted == 0
    act("anything", "unrelated-flow", "x")  # any later call evaluates due deadlines
    assert tracker.verdicts_emitted == 1
    assert verdicts(exported(otlp_receiver))["r1"].attributes["botanu.flow.verdict"] == "failed"


def test_check_timeouts_for_serverless_handlers(botanu_init, otlp_receiver):
    botanu_init()
    flows.configure(timer=False)
    define_flow("slow", [{"id": "start", "timeout": 0.02}, {"id": "end", "dep_ids": ["start"]}], timeout=10)
    act("other", "slow", "r1")  # an undeclared node starts the run; "start" is still missing
    assert flows.check_timeouts() == 0
    time.sleep(0.03)
    assert flows.check_timeouts() == 1
    verdict = verdicts(exported(otlp_receiver))["r1"]
    assert (
        node_events(verdict)["start"]["botanu.node.reason"]
        == "did not arrive within 20ms after the run started"
    )


def test_flow_timeout_bounds_nodes_without_their_own(botanu_init, otlp_receiver):
    botanu_init()
    define_flow("f", ["a", {"id": "b", "dep_ids": ["a"]}], timeout="30ms")
    act("a", "f", "r1")
    assert wait_until(lambda: tracker.verdicts_emitted == 1)
    verdict = verdicts(exported(otlp_receiver))["r1"]
    assert node_events(verdict)["b"]["botanu.node.reason"] == "the run timed out before it arrived"


def test_running_runs_are_reported_as_such_at_shutdown(botanu_init, otlp_receiver):
    botanu_init()
    define_flow("f", ["a", {"id": "b", "dep_ids": ["a"]}])  # no timeouts: b may come any time
    act("a", "f", "r1")
    assert tracker.pending_runs() == 1
    assert not named(exported(otlp_receiver), "botanu.flow.run")
    assert flows.finish_runs() == 1
    verdict = verdicts(exported(otlp_receiver))["r1"]
    a = verdict.attributes
    assert a["botanu.flow.verdict"] == "running"
    assert a["botanu.flow.final"] is False
    assert a["botanu.flow.incomplete_reason"] == "shutdown"
    assert a["botanu.flow.nodes.pending"] == ("b",)
    assert flows.finish_runs() == 0  # reported once


def test_filtered_nodes_and_their_dependents_are_skipped(botanu_init, otlp_receiver):
    botanu_init()
    define_flow(
        "signup",
        [
            "account_created",
            {"id": "loyalty_points", "dep_ids": ["account_created"], "timeout": 5},
            {"id": "loyalty_email", "dep_ids": ["loyalty_points"]},
            {"id": "welcome_email", "dep_ids": ["account_created"]},
        ],
    )
    act("account_created", "signup", "u1")
    act("loyalty_points", "signup", "u1", filter=False)  # not a premium user: nothing recorded
    act("welcome_email", "signup", "u1")
    spans = exported(otlp_receiver)
    assert not named(spans, "signup.loyalty_points")
    verdict = verdicts(spans)["u1"]
    a = verdict.attributes
    assert a["botanu.flow.verdict"] == "passed"
    assert a["botanu.flow.nodes.skipped"] == ("loyalty_points", "loyalty_email")
    assert a["botanu.flow.nodes.filtered"] == ("loyalty_points",)
    events = node_events(verdict)
    assert events["loyalty_points"]["botanu.node.reason"] == "filtered"
    assert events["loyalty_email"]["botanu.node.reason"] == "dependency loyalty_points did not happen"


def test_a_run_whose_every_node_was_filtered_is_skipped(botanu_init, otlp_receiver):
    botanu_init()
    define_flow("f", ["a", {"id": "b", "dep_ids": ["a"]}])
    act("a", "f", "r1", filter=lambda: False)
    assert verdicts(exported(otlp_receiver))["r1"].attributes["botanu.flow.verdict"] == "skipped"


def test_undeclared_flows_get_no_verdict(botanu_init, otlp_receiver):
    botanu_init()
    act("a", "free", "r1")
    assert_("b", "free", "r1", dep_ids=["a"], validator=lambda data, ctx: False)
    assert flows.finish_runs() == 0
    assert not named(exported(otlp_receiver), "botanu.flow.run")


def test_memory_is_bounded_and_evicted_runs_still_report(botanu_init, otlp_receiver):
    botanu_init()
    flows.configure(max_runs=2)
    define_flow("f", ["a", {"id": "b", "dep_ids": ["a"]}])
    for n in range(3):
        act("a", "f", f"r{n}")
    assert len(tracker._runs) == 2
    verdict = verdicts(exported(otlp_receiver))["r0"]
    assert verdict.attributes["botanu.flow.verdict"] == "running"
    assert verdict.attributes["botanu.flow.incomplete_reason"] == "evicted"
    seen = []
    assert_("b", "f", "r0", validator=lambda data, ctx: seen.append(ctx["deps"]) or True)
    assert seen == [[]]  # r0's data was forgotten with it


def test_many_runs_with_timeouts_share_one_timer_thread(botanu_init):
    import threading

    botanu_init()
    define_flow("f", ["a", {"id": "b", "dep_ids": ["a"], "timeout": 0.02}])
    before = threading.active_count()
    for n in range(200):
        act("a", "f", f"r{n}")
    assert threading.active_count() <= before + 1
    assert wait_until(lambda: tracker.verdicts_emitted == 200)
    assert tracker.pending_runs() == 0
    assert len(tracker._heap) == 0


def test_redeclaring_a_flow_applies_to_new_runs(botanu_init, otlp_receiver):
    botanu_init()
    define_flow("f", ["a", {"id": "b", "dep_ids": ["a"]}])
    act("a", "f", "old")
    define_flow("f", ["a"])
    act("a", "f", "new")
    act("b", "f", "old")
    found = verdicts(exported(otlp_receiver))
    assert found["new"].attributes["botanu.flow.nodes.passed"] == ("a",)
    assert found["old"].attributes["botanu.flow.nodes.passed"] == ("a", "b")

"""The verdict rules as a pure function (shared by the in-process tracker and ``botanu flows check``)."""

from __future__ import annotations

import pytest

from botanu.flows._model import build_flow
from botanu.flows._verdict import Arrival, evaluate

FLOW = build_flow(
    "checkout",
    [
        {"id": "pay", "timeout": 10},
        {"id": "stock", "dep_ids": ["pay"], "timeout": 5},
        {"id": "total", "type": "assert", "dep_ids": ["stock"]},
    ],
)


def arrivals(*items: Arrival) -> dict[str, Arrival]:
    return {item.node_id: item for item in items}


def statuses(verdict) -> dict[str, str]:
    return {node.node_id: node.status for node in verdict.nodes}


def test_all_arrived_in_order_passes():
    verdict = evaluate(
        "checkout",
        "r",
        arrivals(Arrival("pay", 1), Arrival("stock", 2), Arrival("total", 3)),
        flow=FLOW,
        started_at=1,
        now=4,
    )
    assert verdict.status == "passed" and verdict.final
    assert statuses(verdict) == {"pay": "passed", "stock": "passed", "total": "passed"}
    assert verdict.next_deadline is None


def test_same_timestamp_as_a_dependency_counts_as_after():
    verdict = evaluate(
        "checkout",
        "r",
        arrivals(Arrival("pay", 1), Arrival("stock", 1), Arrival("total", 1)),
        flow=FLOW,
        started_at=1,
        now=1,
    )
    assert verdict.status == "passed"


def test_pending_within_timeout_is_running_with_the_next_deadline():
    verdict = evaluate("checkout", "r", arrivals(Arrival("pay", 1)), flow=FLOW, started_at=1, now=2)
    assert verdict.status == "running" and not verdict.final
    assert statuses(verdict) == {"pay": "passed", "stock": "pending", "total": "pending"}
    assert verdict.next_deadline == 6  # stock: 5 s after pay arrived


def test_timeout_fails_and_dependents_are_skipped():
    verdict = evaluate("checkout", "r", arrivals(Arrival("pay", 1)), flow=FLOW, started_at=1, now=6)
    assert verdict.status == "failed"
    assert statuses(verdict) == {"pay": "passed", "stock": "failed", "total": "skipped"}


def test_root_timeout_counts_from_the_run_start():
    verdict = evaluate("checkout", "r", {}, flow=FLOW, started_at=100, now=109.9)
    assert statuses(verdict)["pay"] == "pending"
    verdict = evaluate("checkout", "r", {}, flow=FLOW, started_at=100, now=110)
    assert statuses(verdict)["pay"] == "failed"


def test_failed_assertion_and_its_reason():
    verdict = evaluate(
        "checkout",
        "r",
        arrivals(Arrival("pay", 1), Arrival("stock", 2), Arrival("total", 3, passed=False, reason="boom")),
        flow=FLOW,
        started_at=1,
        now=3,
    )
    assert verdict.status == "failed"
    assert verdict.nodes[2].reason == "boom"


def test_a_node_that_arrived_but_failed_still_happened_for_its_dependents():
    verdict = evaluate(
        "checkout", "r", arrivals(Arrival("pay", 1), Arrival("stock", 0.5)), flow=FLOW, started_at=0.5, now=2
    )
    assert statuses(verdict) == {"pay": "passed", "stock": "failed", "total": "pending"}


def test_filtered_root_skips_everything():
    verdict = evaluate("checkout", "r", {}, flow=FLOW, started_at=0, now=1, filtered={"pay"})
    assert verdict.status == "skipped"
    assert [node.reason for node in verdict.nodes] == [
        "filtered",
        "dependency pay did not happen",
        "dependency stock did not happen",
    ]


def test_complete_record_fails_missing_nodes_whatever_their_timeout():
    verdict = evaluate(
        "checkout", "r", arrivals(Arrival("pay", 1), Arrival("stock", 2)), flow=FLOW, started_at=1, now=None
    )
    assert statuses(verdict)["total"] == "failed"
    assert verdict.nodes[2].reason == "never arrived"


def test_node_without_timeout_waits_forever_without_a_flow_timeout():
    verdict = evaluate(
        "checkout", "r", arrivals(Arrival("pay", 1), Arrival("stock", 2)), flow=FLOW, started_at=1, now=1e9
    )
    assert verdict.status == "running" and verdict.next_deadline is None


def test_flow_timeout_caps_node_timeouts():
    flow = build_flow("f", [{"id": "a", "timeout": 60}, {"id": "b", "dep_ids": ["a"]}], timeout=1)
    verdict = evaluate("f", "r", {}, flow=flow, started_at=0, now=0.5)
    assert verdict.next_deadline == 1
    verdict = evaluate("f", "r", {}, flow=flow, started_at=0, now=1)
    assert [n.reason for n in verdict.nodes] == [
        "the run timed out before it arrived",
        "dependency a did not happen",
    ]


def test_inferred_graph_from_the_events_dep_ids():
    events = arrivals(Arrival("a", 1), Arrival("b", 2, dep_ids=("a",)), Arrival("c", 3, dep_ids=("b", "x")))
    verdict = evaluate("free", "r", events, flow=None, started_at=1, now=10)
    assert statuses(verdict) == {"a": "passed", "b": "passed", "c": "failed", "x": "pending"}
    assert verdict.nodes[2].reason == "arrived, but its dependency x has not"


def test_a_dependency_arriving_after_the_node_is_named_as_late():
    events = arrivals(Arrival("a", 2), Arrival("b", 1, dep_ids=("a",)))
    verdict = evaluate("free", "r", events, flow=None, started_at=0, now=10)
    reasons = {node.node_id: node.reason for node in verdict.nodes}
    assert reasons == {"a": None, "b": "arrived before its dependency a"}


def test_undeclared_arrivals_join_a_declared_flow():
    verdict = evaluate(
        "checkout",
        "r",
        arrivals(Arrival("pay", 1), Arrival("audit", 2, dep_ids=("pay",))),
        flow=FLOW,
        started_at=1,
        now=2,
    )
    assert statuses(verdict)["audit"] == "passed"


def test_cycles_in_inferred_graphs_do_not_hang():
    events = arrivals(Arrival("a", 1, dep_ids=("b",)), Arrival("b", 2, dep_ids=("a",)))
    verdict = evaluate("free", "r", events, flow=None, started_at=1, now=3)
    assert verdict.status == "failed"


@pytest.mark.parametrize(
    ("timeout", "seconds"),
    [(5, 5.0), (0.25, 0.25), ("500ms", 0.5), ("5s", 5.0), ("2m", 120.0), ("1h", 3600.0), ("1.5", 1.5)],
)
def test_durations(timeout, seconds):
    assert build_flow("f", [{"id": "a", "timeout": timeout}]).nodes[0].timeout == seconds

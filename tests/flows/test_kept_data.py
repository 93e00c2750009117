"""What act/assert keep of a node's data for later validators: a copy, bounded by size."""

from __future__ import annotations

import logging

import pytest

import botanu
from botanu.flows import act, assert_
from botanu.flows._runs import MAX_NODE_DATA_BYTES, tracker
from tests.flows._helpers import exported, named


def _deps_seen(flow: str, run_id: str, dep: str) -> list:
    seen: list = []
    assert_("check", flow, run_id, dep_ids=[dep], validator=lambda data, ctx: not seen.extend(ctx["deps"]))
    return seen


def test_validators_see_the_data_as_it_was_when_the_node_happened(botanu_init):
    botanu_init()
    items = [{"sku": "a", "qty": 1}]
    order = {"items": items, "tags": {"new"}, "total": 5}
    act("order", "co", "r1", order)
    items.append({"sku": "b", "qty": 2})  # the app keeps using its objects
    items[0]["qty"] = 99
    order["total"] = 7
    (dep,) = _deps_seen("co", "r1", "order")
    assert dep["data"] == {"items": [{"sku": "a", "qty": 1}], "tags": {"new"}, "total": 5}


def test_data_too_large_to_keep_warns_once_and_the_span_still_records_it(botanu_init, otlp_receiver, caplog):
    botanu_init()
    blob = "x" * (MAX_NODE_DATA_BYTES + 1)
    with caplog.at_level(logging.WARNING, logger="botanu"):
        for run in ("r1", "r2"):
            act("upload", "ingest", run, {"blob": blob, "name": "f.csv"})
    warnings = [r.getMessage() for r in caplog.records if "not kept for the validators" in r.getMessage()]
    assert len(warnings) == 1 and "ingest.upload" in warnings[0]
    assert _deps_seen("ingest", "r1", "upload") == []
    assert tracker.data_bytes < 10_000
    spans = named(exported(otlp_receiver), "ingest.upload")
    assert len(spans) == 2 and spans[0].attributes["botanu.data.name"] == "f.csv"


def test_kept_data_stays_within_its_budget_forgetting_the_oldest_runs_first(botanu_init):
    botanu_init()
    botanu.flows.configure(max_data_bytes=200_000)
    for i in range(100):
        act("received", "ingest", f"run-{i}", {"blob": "y" * 10_000})
        assert tracker.data_bytes <= 200_000
    assert tracker.data_bytes > 150_000  # what fits is kept
    assert _deps_seen("ingest", "run-0", "received") == []  # the oldest run's data is gone
    (newest,) = _deps_seen("ingest", "run-99", "received")
    assert newest["data"]["blob"] == "y" * 10_000


def test_the_budget_is_released_when_runs_are_evicted(botanu_init):
    botanu_init()
    botanu.flows.configure(max_runs=10)
    for i in range(50):
        act("received", "ingest", f"run-{i}", {"text": "z" * 1000})
    assert 10 * 1000 < tracker.data_bytes < 10 * 3000  # ten runs' worth, not fifty


def test_bad_budget_is_reported_and_ignored(botanu_init, caplog):
    botanu_init()
    with caplog.at_level(logging.WARNING, logger="botanu"):
        botanu.flows.configure(max_data_bytes=-1)
    assert "max_data_bytes must be a positive integer" in caplog.text
    assert tracker.max_data_bytes == 32 * 1024 * 1024


@pytest.mark.timeout(10)
def test_copying_stops_as_soon_as_the_data_is_too_large_to_keep(botanu_init):
    botanu_init()
    shared = [0]
    for _ in range(15):
        shared = [shared] * 4  # 4**15 paths through 16 objects: a full copy would never end
    act("graph", "ingest", "r1", {"graph": shared})
    act("rows", "ingest", "r1", {"rows": list(range(2_000_000))})
    assert _deps_seen("ingest", "r1", "graph") == []
    assert _deps_seen("ingest", "r1", "rows") == []


def test_runs_are_bounded_by_their_size_as_well_as_their_count(botanu_init, otlp_receiver):
    from botanu import flows
    from botanu.flows import define_flow

    botanu_init()
    flows.configure(max_run_bytes=20_000)  # far below what max_runs (10,000) would allow here
    nodes = [f"step-{index:02d}" for index in range(20)]
    define_flow("big", [nodes[0], *({"id": node, "dep_ids": [nodes[0]]} for node in nodes[1:]), "never"])
    for n in range(30):
        for node in nodes:
            act(node, "big", f"run-{n}")
    assert tracker.run_bytes <= 20_000
    assert 1 <= len(tracker._runs) < 30
    assert tracker.run_bytes == sum(run.footprint for run in tracker._runs.values())
    botanu.force_flush(5)
    evicted = [
        s for s in otlp_receiver.spans() if s.attributes.get("botanu.flow.incomplete_reason") == "evicted"
    ]
    assert len(evicted) == 30 - len(tracker._runs)  # forgotten runs still report, as past max_runs


def test_max_run_bytes_must_be_a_positive_integer(botanu_init, caplog):
    from botanu import flows

    botanu_init()
    with caplog.at_level(logging.WARNING, logger="botanu"):
        flows.configure(max_run_bytes=-5)
    assert tracker.max_run_bytes > 0
    assert any("max_run_bytes must be a positive integer" in r.getMessage() for r in caplog.records)

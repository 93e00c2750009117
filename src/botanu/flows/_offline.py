"""Offline flow checking: verdicts from exported spans, for flows that cross services.

Each ``<flow>.<id>`` span (recognised by its ``botanu.flow`` and ``botanu.node.id``
attributes) is one arrival; its start time orders it, its ``botanu.assert.passed``
and status message say whether its assertion held. ``botanu.flow.run`` spans in
the file contribute only the nodes they saw filtered out (``filter`` false leaves
no node span, so this is the only trace of it). The rules are the in-process
ones (:mod:`botanu.flows._verdict`); flows not declared in ``--flows`` are
checked against the graph their events' ``dep_ids`` describe.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from botanu.flows import _names as names
from botanu.flows._model import Flow
from botanu.flows._otlp_json import JSONSpan
from botanu.flows._verdict import Arrival, RunVerdict, evaluate


@dataclass
class _RunRecord:
    arrivals: dict[str, Arrival] = field(default_factory=dict)
    filtered: set[str] = field(default_factory=set)


def check_spans(
    spans: Iterable[JSONSpan], flows: Mapping[str, Flow], *, now: float | None = None, complete: bool = False
) -> list[RunVerdict]:
    """The verdict of every flow run found in ``spans``, sorted by flow then first event.

    ``now`` (Unix seconds, default: the current time) decides which timeouts have
    passed; ``complete=True`` treats the spans as the whole story, so a node that
    has not arrived never will.
    """
    runs: dict[tuple[str, str], _RunRecord] = {}
    for span in spans:
        attributes = span.attributes
        flow, run_id = attributes.get(names.FLOW), attributes.get(names.RUN_ID)
        if not isinstance(flow, str) or not isinstance(run_id, str):
            continue
        record = runs.setdefault((flow, run_id), _RunRecord())
        if span.name == names.RUN_SPAN:
            record.filtered.update(str(node) for node in attributes.get(names.NODES_FILTERED) or ())
            continue
        node_id = attributes.get(names.NODE_ID)
        if not isinstance(node_id, str):
            continue
        arrival = _arrival(node_id, span)
        earlier = record.arrivals.get(node_id)
        if earlier is None or arrival.at < earlier.at:  # the first arrival counts
            record.arrivals[node_id] = arrival
    at = time.time() if now is None else now
    verdicts = []
    for (flow_name, run_id), record in runs.items():
        if not record.arrivals:
            continue  # only a verdict span: its node spans are elsewhere
        started = min(arrival.at for arrival in record.arrivals.values())
        verdicts.append(
            (
                started,
                evaluate(
                    flow_name,
                    run_id,
                    record.arrivals,
                    flow=flows.get(flow_name),
                    started_at=started,
                    now=None if complete else at,
                    filtered=record.filtered,
                ),
            )
        )
    verdicts.sort(key=lambda item: (item[1].flow, item[0]))
    return [verdict for _, verdict in verdicts]


def _arrival(node_id: str, span: JSONSpan) -> Arrival:
    attributes = span.attributes
    deps = attributes.get(names.NODE_DEP_IDS) or ()
    passed = attributes.get(names.ASSERT_PASSED)
    reason = None
    if passed is False:
        prefix = f"assertion {attributes.get(names.FLOW)}.{node_id} failed: "
        message = span.status_message
        reason = message[len(prefix) :] if message.startswith(prefix) else (message or None)
    node_type = attributes.get(names.NODE_TYPE)
    return Arrival(
        node_id=node_id,
        at=span.start_ns / 1e9,
        node_type=node_type if isinstance(node_type, str) else None,
        dep_ids=tuple(str(dep) for dep in deps) if isinstance(deps, (list, tuple)) else (),
        passed=passed if isinstance(passed, bool) else None,
        reason=reason,
    )


# --------------------------------------------------------------------------- the report


def render_table(verdicts: Sequence[RunVerdict]) -> str:
    """A readable report: one block per run (its nodes as a table), then a summary line."""
    if not verdicts:
        return "no flow runs found (no spans with botanu.flow / botanu.node.id attributes)"
    blocks = []
    for verdict in verdicts:
        rows = [("NODE", "TYPE", "STATUS", "DETAIL")]
        rows += [
            (node.node_id, node.node_type or "-", node.status, node.reason or "") for node in verdict.nodes
        ]
        widths = [max(len(row[column]) for row in rows) for column in range(3)]
        lines = [f"{verdict.flow}  run {verdict.run_id}  {verdict.status.upper()}"]
        for row in rows:
            cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
            lines.append(("  " + "  ".join(cells) + "  " + row[3]).rstrip())
        blocks.append("\n".join(lines))
    counts = {status: sum(1 for v in verdicts if v.status == status) for status in names.RUN_VERDICTS}
    summary = f"{len(verdicts)} run(s): " + ", ".join(f"{count} {status}" for status, count in counts.items())
    return "\n\n".join(blocks) + "\n\n" + summary

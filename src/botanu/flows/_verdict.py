"""The verdict rules, as a pure function shared by the in-process tracker and ``botanu flows check``.

Node statuses (evaluated in dependency order):

* ``passed``  -- its event arrived after every dependency's event, and its
  assertion (if any) passed;
* ``failed``  -- it arrived before one of its dependencies (or one never
  arrived), its assertion failed, or its dependencies all arrived but it did
  not arrive within its timeout (or the flow's run timeout);
* ``skipped`` -- it did not arrive and never will: a dependency was skipped, or
  failed without arriving, or the node itself was filtered out (``filter``
  false) in this run;
* ``pending`` -- none of the above yet.

Run verdict: ``failed`` if any node failed (a failure is final at once),
``running`` while any node is pending, ``skipped`` if every node was skipped,
``passed`` otherwise. Only ``running`` is not final.

Times are seconds on one clock (monotonic in process, Unix time offline);
``now=None`` means "the record is complete": a node that has not arrived never will.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

from botanu.flows._model import Flow
from botanu.flows._names import FAILED, PASSED, PENDING, RUNNING, SKIPPED


@dataclass(frozen=True, slots=True)
class Arrival:
    """One node event of a run, as observed (first arrival wins)."""

    node_id: str
    at: float
    node_type: str | None = None
    dep_ids: tuple[str, ...] = ()
    passed: bool | None = None  # the assertion's result; None when nothing was asserted
    reason: str | None = None  # why the assertion failed


@dataclass(frozen=True, slots=True)
class NodeVerdict:
    """The status of one node in a run, with a human-readable reason when it is not ``passed``."""

    node_id: str
    status: str
    reason: str | None = None
    node_type: str | None = None


@dataclass(frozen=True, slots=True)
class RunVerdict:
    """A run's verdict, its nodes' statuses, and when it should next be evaluated (if running)."""

    flow: str
    run_id: str
    status: str
    nodes: tuple[NodeVerdict, ...]
    next_deadline: float | None = None

    @property
    def final(self) -> bool:
        """True unless the run is still ``running``."""
        return self.status != RUNNING

    def with_status(self, status: str) -> list[str]:
        """Ids of the nodes in ``status``."""
        return [node.node_id for node in self.nodes if node.status == status]


@dataclass(frozen=True, slots=True)
class _Spec:
    dep_ids: tuple[str, ...]
    timeout: float | None
    node_type: str | None


def evaluate(
    flow_name: str,
    run_id: str,
    arrivals: Mapping[str, Arrival],
    *,
    flow: Flow | None,
    started_at: float,
    now: float | None,
    filtered: Collection[str] = (),
) -> RunVerdict:
    """Apply the rules in the module docstring to one run.

    Args:
        flow_name: The flow's name (used when ``flow`` is None).
        run_id: The run's id.
        arrivals: The node events seen for this run, by node id.
        flow: The declaration, or None to infer the graph from the events'
            ``dep_ids`` (then only nodes seen or named as dependencies exist).
        started_at: When the run started (its first event); root nodes time out from here.
        now: The evaluation time, or None when the record is complete.
        filtered: Nodes whose ``filter`` was false in this run.
    """
    specs = _graph(flow, arrivals)
    run_deadline = started_at + flow.timeout if flow is not None and flow.timeout is not None else None
    results: dict[str, NodeVerdict] = {}
    deadlines: list[float] = []

    def resolve(node_id: str, visiting: frozenset[str]) -> NodeVerdict:
        known = results.get(node_id)
        if known is not None:
            return known
        spec = specs[node_id]
        if node_id in visiting:
            return NodeVerdict(node_id, FAILED, "dependency cycle", spec.node_type)
        deps = {dep: resolve(dep, visiting | {node_id}) for dep in spec.dep_ids}
        verdict = _node_verdict(
            node_id, spec, deps, arrivals, filtered, started_at, run_deadline, now, deadlines
        )
        results[node_id] = verdict
        return verdict

    nodes = tuple(resolve(node_id, frozenset()) for node_id in specs)
    statuses = {node.status for node in nodes}
    if FAILED in statuses:
        status = FAILED
    elif PENDING in statuses:
        status = RUNNING
    elif statuses == {SKIPPED}:
        status = SKIPPED
    else:
        status = PASSED
    next_deadline = min(deadlines) if deadlines and status == RUNNING else None
    return RunVerdict(flow.name if flow is not None else flow_name, run_id, status, nodes, next_deadline)


def _graph(flow: Flow | None, arrivals: Mapping[str, Arrival]) -> dict[str, _Spec]:
    """Declared nodes first, then undeclared arrivals (with their own dep_ids), then named-only deps."""
    specs: dict[str, _Spec] = {}
    if flow is not None:
        for node in flow.nodes:
            specs[node.id] = _Spec(node.dep_ids, node.timeout, node.type)
    for arrival in sorted(arrivals.values(), key=lambda a: a.at):
        if arrival.node_id not in specs:
            specs[arrival.node_id] = _Spec(arrival.dep_ids, None, arrival.node_type)
        elif specs[arrival.node_id].node_type is None:
            spec = specs[arrival.node_id]
            specs[arrival.node_id] = _Spec(spec.dep_ids, spec.timeout, arrival.node_type)
    for spec in list(specs.values()):
        for dep in spec.dep_ids:
            specs.setdefault(dep, _Spec((), None, None))
    return specs


def _node_verdict(
    node_id: str,
    spec: _Spec,
    deps: Mapping[str, NodeVerdict],
    arrivals: Mapping[str, Arrival],
    filtered: Collection[str],
    started_at: float,
    run_deadline: float | None,
    now: float | None,
    deadlines: list[float],
) -> NodeVerdict:
    arrival = arrivals.get(node_id)
    if arrival is not None:
        for dep in spec.dep_ids:
            before = arrivals.get(dep)
            if before is None:
                reason = f"arrived, but its dependency {dep} has not"
                return NodeVerdict(node_id, FAILED, reason, spec.node_type)
            if before.at > arrival.at:
                return NodeVerdict(node_id, FAILED, f"arrived before its dependency {dep}", spec.node_type)
        if arrival.passed is False:
            return NodeVerdict(node_id, FAILED, arrival.reason or "assertion failed", spec.node_type)
        return NodeVerdict(node_id, PASSED, None, spec.node_type)

    if node_id in filtered:
        return NodeVerdict(node_id, SKIPPED, "filtered", spec.node_type)
    for dep, verdict in deps.items():
        if verdict.status == SKIPPED or (verdict.status == FAILED and dep not in arrivals):
            return NodeVerdict(node_id, SKIPPED, f"dependency {dep} did not happen", spec.node_type)
    if any(dep not in arrivals for dep in spec.dep_ids):
        return NodeVerdict(node_id, PENDING, "waiting for its dependencies", spec.node_type)

    # Every dependency arrived: the node's own clock is running.
    if now is None:
        return NodeVerdict(node_id, FAILED, "never arrived", spec.node_type)
    ready_at = max((arrivals[dep].at for dep in spec.dep_ids), default=started_at)
    own_deadline = ready_at + spec.timeout if spec.timeout is not None else None
    if (
        own_deadline is not None
        and now >= own_deadline
        and (run_deadline is None or own_deadline <= run_deadline)
    ):
        since = "its dependencies arrived" if spec.dep_ids else "the run started"
        return NodeVerdict(
            node_id, FAILED, f"did not arrive within {_seconds(spec.timeout)} after {since}", spec.node_type
        )
    if run_deadline is not None and now >= run_deadline:
        return NodeVerdict(node_id, FAILED, "the run timed out before it arrived", spec.node_type)
    for deadline in (own_deadline, run_deadline):
        if deadline is not None:
            deadlines.append(deadline)
    return NodeVerdict(node_id, PENDING, "waiting for its event", spec.node_type)


def _seconds(value: float | None) -> str:
    if value is None:
        return "?"
    if value < 1:
        return f"{value * 1000:g}ms"
    return f"{value:g}s"

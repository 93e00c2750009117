"""The spans flows produce: one short span per act/assert, one ``botanu.flow.run`` span per verdict."""

from __future__ import annotations

import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from opentelemetry import context, trace
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode

from botanu._analytics_attributes import flatten
from botanu.context._tracing import tracer, with_baggage
from botanu.flows import _names as names
from botanu.flows._verdict import RunVerdict

MAX_STATUS_CHARS = 1024
# Carried over from the first node's context onto the verdict span by the enricher;
# the step is left out because the verdict belongs to the whole run, not to a step.
_NOT_INHERITED = ("botanu.step",)


@dataclass(frozen=True, slots=True)
class NodeOutcome:
    """What an assertion's validator concluded (``passed`` None for acts and validator-less asserts)."""

    passed: bool | None = None
    reason: str | None = None
    error: BaseException | None = None


def _identity_for(run_identity: Mapping[str, str], flow_run_id: str) -> dict[str, Any]:
    """The enclosing run's identity for a span whose ``botanu.run_id`` is ``flow_run_id``.

    An explicit flow run id replaces the botanu run's id on the span; that id is
    kept as ``botanu.enclosing_run_id`` so the span is still found with its run.
    """
    attributes: dict[str, Any] = dict(run_identity)
    enclosing = run_identity.get(names.RUN_ID)
    if enclosing and enclosing != flow_run_id:
        attributes[names.ENCLOSING_RUN_ID] = enclosing
    return attributes


def node_span_name(flow: str, node_id: str) -> str:
    return f"{flow}.{node_id}"


def emit_node_span(
    *,
    flow: str,
    node_id: str,
    node_type: str,
    run_id: str,
    dep_ids: tuple[str, ...],
    description: str | None,
    data: Mapping[Any, Any],
    outcome: NodeOutcome,
    run_identity: Mapping[str, str],
) -> SpanContext:
    """Record one act/assert as a short INTERNAL span in the current trace; return its context.

    ``run_identity`` is the ``botanu.*`` baggage of the caller's context (run id,
    workflow, customer, session ...), stamped first so the node's own keys win.
    """
    attributes = _identity_for(run_identity, run_id)
    if data:
        attributes.update(flatten(names.DATA_PREFIX, data))
    attributes.update(
        {
            names.FLOW: flow,
            names.RUN_ID: run_id,
            names.NODE_ID: node_id,
            names.NODE_TYPE: node_type,
            names.NODE_DEP_IDS: list(dep_ids),
        }
    )
    if description:
        attributes[names.NODE_DESCRIPTION] = description
    if node_type == names.ASSERT:
        attributes[names.ASSERT_PASSED] = outcome.passed is not False
    span = tracer().start_span(node_span_name(flow, node_id), kind=SpanKind.INTERNAL, attributes=attributes)
    if outcome.error is not None:
        span.record_exception(outcome.error, escaped=False)
    if outcome.passed is False:
        description_text = (
            f"assertion {flow}.{node_id} failed: {outcome.reason or 'validator returned False'}"
        )
        span.set_status(Status(StatusCode.ERROR, description_text[:MAX_STATUS_CHARS]))
    span.end()
    return span.get_span_context()


def emit_verdict_span(
    verdict: RunVerdict,
    *,
    anchor: SpanContext | None,
    baggage_entries: Mapping[str, str],
    started_wall_ns: int,
    filtered: Collection[str],
    incomplete_reason: str | None = None,
) -> None:
    """Record a run's verdict as a ``botanu.flow.run`` span.

    It is a child of the span that was current when the run's first node
    arrived (so it sits in the run's trace even when emitted later from the
    timer thread), starts when the run started and ends now. Per-node statuses
    are id arrays (``botanu.flow.nodes.<status>``) plus one ``botanu.flow.node``
    span event per node carrying its status and reason.
    """
    parent = context.Context()
    if anchor is not None and anchor.is_valid:
        parent = trace.set_span_in_context(trace.NonRecordingSpan(anchor), parent)
    inherited = {k: v for k, v in baggage_entries.items() if k not in _NOT_INHERITED}
    if inherited:
        parent = with_baggage(parent, inherited)

    attributes = _identity_for(inherited, verdict.run_id)
    attributes.update(
        {
            names.FLOW: verdict.flow,
            names.RUN_ID: verdict.run_id,
            names.VERDICT: verdict.status,
            names.FINAL: incomplete_reason is None and verdict.final,
        }
    )
    for status in names.NODE_STATUSES:
        attributes[names.NODES_PREFIX + status] = verdict.with_status(status)
    filtered_ids = [node.node_id for node in verdict.nodes if node.node_id in filtered]
    if filtered_ids:
        attributes[names.NODES_FILTERED] = filtered_ids
    if incomplete_reason is not None:
        attributes[names.INCOMPLETE_REASON] = incomplete_reason

    now_ns = time.time_ns()
    span = tracer().start_span(
        names.RUN_SPAN,
        context=parent,
        kind=SpanKind.INTERNAL,
        attributes=attributes,
        start_time=min(started_wall_ns, now_ns),
    )
    for node in verdict.nodes:
        event: dict[str, Any] = {names.NODE_ID: node.node_id, names.NODE_STATUS: node.status}
        if node.node_type:
            event[names.NODE_TYPE] = node.node_type
        if node.reason:
            event[names.NODE_REASON] = node.reason
        span.add_event(names.NODE_EVENT, event, timestamp=now_ns)
    if verdict.status == names.FAILED:
        failures = "; ".join(
            f"{node.node_id}: {node.reason}" for node in verdict.nodes if node.status == "failed"
        )
        span.set_status(
            Status(StatusCode.ERROR, f"flow {verdict.flow} failed: {failures}"[:MAX_STATUS_CHARS])
        )
    span.end(end_time=now_ns)

"""Business flows: ``act()`` / ``assert_()`` events as spans, and verdicts for declared flows.

::

    import botanu

    botanu.define_flow("checkout", [
        {"id": "payment_processed"},
        {"id": "inventory_reserved", "dep_ids": ["payment_processed"], "timeout": "5s"},
        {"id": "order_total_matches", "dep_ids": ["inventory_reserved"]},
    ])

    with botanu.event(event_id=order.id, customer_id=user.id, workflow="Checkout"):
        botanu.act("payment_processed", "checkout", data={"amount": 150})
        ...
        botanu.assert_("order_total_matches", "checkout", data=order_data,
                       dep_ids=["inventory_reserved"], validator=total_matches)

Each call is a span ``<flow>.<id>`` in the current trace; a declared flow's run
also gets a ``botanu.flow.run`` span with its verdict. ``botanu flows check``
computes the same verdicts offline from exported spans. See ``docs/flows.md``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import PurePath
from typing import Any

from botanu._safety import misuse, safe_repr, user_call_site
from botanu.flows._api import act, assert_
from botanu.flows._loader import read_flows_file
from botanu.flows._model import Flow, FlowDefinitionError, FlowNode, build_flow, declared_flows, register
from botanu.flows._runs import tracker

__all__ = [
    "Flow",
    "FlowDefinitionError",
    "FlowNode",
    "act",
    "assert_",
    "check_timeouts",
    "configure",
    "declared_flows",
    "define_flow",
    "finish_runs",
    "load_flows",
]


def define_flow(
    name: str,
    nodes: Iterable[FlowNode | Mapping[str, Any] | str],
    *,
    timeout: float | str | None = None,
) -> Flow | None:
    """Declare a flow so its runs get verdicts; return it (None if the declaration was rejected).

    Args:
        name: The flow name used in ``act()`` / ``assert_()``.
        nodes: Each a :class:`FlowNode`, a mapping with ``id`` and optional
            ``dep_ids``, ``timeout``, ``type``, ``description``, or just an id.
        timeout: Optional limit for the whole run, from its first event: nodes
            still missing then fail. Seconds, or a string like ``"500ms"``, ``"2m"``.

    Node timeouts count from when the node's dependencies have all arrived (for
    a node without dependencies, from the run's first event). Declaring a flow
    again replaces it for runs that start afterwards. Bad declarations log one
    warning and are ignored (``BOTANU_STRICT=1`` raises).
    """
    try:
        flow = build_flow(name, nodes, timeout)
    except FlowDefinitionError as error:
        misuse("define_flow(): %s; the flow is not declared", error, site=user_call_site())
        return None
    register(flow)
    return flow


def load_flows(path: str | os.PathLike[str]) -> list[Flow]:
    """Declare every flow in a YAML (or ``.json``) file and return them (format: ``docs/flows.md``).

    YAML needs the optional PyYAML dependency: ``pip install 'botanu[flows]'``.
    An unreadable or invalid file logs one warning and declares nothing
    (``BOTANU_STRICT=1`` raises).
    """
    try:
        flows = read_flows_file(path)
    except (OSError, FlowDefinitionError) as error:
        # os.fspath() only where it cannot raise: the value may be no path at all.
        shown = safe_repr(os.fspath(path) if isinstance(path, (str, bytes, PurePath)) else path)
        misuse("load_flows(%s): %s; no flows declared", shown, error, site=user_call_site())
        return []
    for flow in flows:
        register(flow)
    return flows


def check_timeouts() -> int:
    """Give a verdict now to every declared run whose timeout has passed; return how many were emitted.

    botanu already does this on later ``act()``/``assert_()`` calls and from a
    small timer thread; call it before a serverless handler returns (the
    ``Analytics`` client's ``flush()`` does) so no verdict waits for a frozen process.
    """
    return tracker.check_timeouts()


def finish_runs() -> int:
    """Emit a verdict for every declared run not yet reported, final or not (``running``).

    Done automatically at interpreter exit; returns how many verdicts were emitted.
    """
    return tracker.finish_all("shutdown")


def configure(
    *,
    max_runs: int | None = None,
    timer: bool | None = None,
    max_data_bytes: int | None = None,
    max_run_bytes: int | None = None,
) -> None:
    """Tune the in-process run tracking.

    Args:
        max_runs: How many flow runs to remember (LRU; default 10,000). A
            declared run forgotten before its verdict gets a non-final one.
        timer: False stops the timeout thread; timeouts are then checked only
            on later calls, :func:`check_timeouts` and at exit.
        max_data_bytes: How much node data (estimated) is kept for validators'
            ``ctx["deps"]`` across all runs (default 32 MiB); past it the oldest
            runs' data is forgotten first.
        max_run_bytes: How much the runs themselves (ids, baggage, arrived and filtered
            nodes; estimated) may take together (default 64 MiB); past it the least recently
            used runs are forgotten, as past ``max_runs``.
    """
    if max_runs is not None and not _positive_int(max_runs):
        misuse("configure(): max_runs must be a positive integer, got %r; unchanged", max_runs)
        max_runs = None
    if max_data_bytes is not None and not _positive_int(max_data_bytes):
        misuse("configure(): max_data_bytes must be a positive integer, got %r; unchanged", max_data_bytes)
        max_data_bytes = None
    if max_run_bytes is not None and not _positive_int(max_run_bytes):
        misuse("configure(): max_run_bytes must be a positive integer, got %r; unchanged", max_run_bytes)
        max_run_bytes = None
    tracker.configure(
        max_runs=max_runs,
        timer=None if timer is None else bool(timer),
        max_data_bytes=max_data_bytes,
        max_run_bytes=max_run_bytes,
    )


def _positive_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _reset_for_tests() -> None:
    """Forget declared flows and tracked runs."""
    from botanu.flows._model import forget_all

    forget_all()
    tracker.reset()

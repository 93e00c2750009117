"""Per-run totals of LLM calls: fed when a gen_ai span ends, read when its run's span ends.

A run's span ends after its children in the same process, so the run span can carry the
totals of every model call made inside it, on any thread or task, by any instrumentation
(the calls are matched by the ``botanu.run_id`` attribute the enricher stamps on every span).
Only runs opened by ``botanu.event()`` in *this* process are totalled: a service that only
received a run through baggage has no run span to put totals on, and a backend sums the
per-call ``botanu.cost.usd`` of every span with that ``botanu.run_id`` instead.

Memory is bounded: at most ``MAX_RUNS`` runs are totalled at once (a run that never ends is
evicted, oldest first, and counted in ``botanu.stats()``).
"""

from __future__ import annotations

import os
import threading
from typing import Any

from opentelemetry import context
from opentelemetry.trace import Span

from botanu import _stats
from botanu._safety import report_internal
from botanu.context._run import _RUN_KEY
from botanu.llm._keys import (
    COST_USD,
    LLM_CALLS,
    LLM_INPUT_TOKENS,
    LLM_OPEN_CALLS,
    LLM_OUTPUT_TOKENS,
    LLM_UNPRICED_CALLS,
)

MAX_RUNS = 10_000
# Runs that ended while calls were open, remembered so those calls are not counted twice when
# they end later (and only those: a bound, not a history).
MAX_FINISHED = 1024

# botanu.stats() counters.
OPEN_AT_RUN_END = "llm_calls_open_at_run_end"
AFTER_RUN_END = "llm_calls_after_run_end"
RUNS_EVICTED = "llm_rollup_runs_evicted"


class _Totals:
    __slots__ = ("calls", "cost", "input_tokens", "open", "output_tokens", "unpriced")

    def __init__(self) -> None:
        self.calls = 0
        self.input_tokens = 0
        self.output_tokens = 0
        self.cost = 0.0
        self.unpriced = 0
        self.open: set[int] = set()  # span ids of calls started and not yet ended


_lock = threading.Lock()
_runs: dict[str, _Totals] = {}
_finished: dict[str, set[int]] = {}


def _local_run(run_id: str, ctx: context.Context | None) -> Any:
    """The state of the run ``run_id`` when ``event()`` opened it in this process and ``ctx`` is inside it."""
    run = (ctx if ctx is not None else context.get_current()).get(_RUN_KEY)
    state = getattr(run, "_state", None)
    if state is None or getattr(run, "run_id", None) != run_id:
        return None
    return state


def _ended(state: Any) -> bool:
    """Whether the run's span has ended (a span the sampler dropped has no end time and never ends here)."""
    return getattr(state.span, "end_time", None) is not None


def _entry(run_id: str) -> _Totals:
    """The run's totals, made if needed (call with ``_lock`` held)."""
    totals = _runs.get(run_id)
    if totals is None:
        if len(_runs) >= MAX_RUNS:
            # A run that never ended (a leaked generator, a hung request): drop the oldest.
            _runs.pop(next(iter(_runs)))
            _stats.add(RUNS_EVICTED)
        totals = _runs[run_id] = _Totals()
    return totals


def call_started(span_id: int, run_id: str, ctx: context.Context | None) -> None:
    """A model call started inside run ``run_id``: remember it as open until it ends."""
    state = _local_run(run_id, ctx)
    if state is None or _ended(state):
        return
    with _lock:
        _entry(run_id).open.add(span_id)


def call_ended(
    span_id: int,
    run_id: str,
    input_tokens: int,
    output_tokens: int,
    cost: float | None,
    unpriced: bool,
) -> None:
    """A model call of run ``run_id`` ended: add it to the run's totals (failed calls count too)."""
    finished = None
    with _lock:
        totals = _runs.get(run_id)
        if totals is None:
            finished = _finished.get(run_id)
            if finished is not None and span_id in finished:
                finished.discard(span_id)  # already counted as open when its run ended
                return
        else:
            totals.open.discard(span_id)
            _add(totals, input_tokens, output_tokens, cost, unpriced)
            return
    if finished is not None:
        _stats.add(AFTER_RUN_END)
        return
    # Not seen at its start (a span that said it was a model call only when it ended).
    state = _local_run(run_id, None)
    if state is None:
        return  # another process's run: its backend sums botanu.cost.usd by botanu.run_id
    if _ended(state):
        _stats.add(AFTER_RUN_END)
        return
    with _lock:
        _add(_entry(run_id), input_tokens, output_tokens, cost, unpriced)


def _add(totals: _Totals, input_tokens: int, output_tokens: int, cost: float | None, unpriced: bool) -> None:
    totals.calls += 1
    totals.input_tokens += input_tokens
    totals.output_tokens += output_tokens
    if cost is not None:
        totals.cost += cost
    if unpriced:
        totals.unpriced += 1


def run_ended(span: Span, run_id: str) -> None:
    """Put the run's totals on its span, just before it ends (called by ``botanu.context._run``).

    Never raises: the run span must end whatever happens here.
    """
    if not _runs:  # no run has LLM calls: nothing to look up
        return
    try:
        with _lock:
            totals = _runs.pop(run_id, None)
            if totals is None:
                return
            still_open = len(totals.open)
            if still_open:
                if len(_finished) >= MAX_FINISHED:
                    _finished.pop(next(iter(_finished)))
                _finished[run_id] = set(totals.open)
        if still_open:
            _stats.add(OPEN_AT_RUN_END, still_open)
        attributes: dict[str, Any] = {
            LLM_CALLS: totals.calls,
            LLM_INPUT_TOKENS: totals.input_tokens,
            LLM_OUTPUT_TOKENS: totals.output_tokens,
            COST_USD: totals.cost,
        }
        if totals.unpriced:
            attributes[LLM_UNPRICED_CALLS] = totals.unpriced
        if still_open:
            attributes[LLM_OPEN_CALLS] = still_open
        span.set_attributes(attributes)
    except Exception:
        report_internal("totalling a run's LLM calls")


def totals_for_tests() -> tuple[int, int]:
    """(runs being totalled, runs remembered as ended with open calls)."""
    with _lock:
        return len(_runs), len(_finished)


def reset() -> None:
    """Forget every total (tests)."""
    with _lock:
        _runs.clear()
        _finished.clear()


def _after_fork_in_child() -> None:
    # The parent's runs are the parent's to report; a lock held at fork() would stay held.
    global _lock
    _lock = threading.Lock()
    _runs.clear()
    _finished.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)

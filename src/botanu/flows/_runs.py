"""In-process flow runs: what each run has seen, its verdict, and its timeouts.

Memory is bounded: runs live in one LRU of at most ``max_runs`` entries (finished
runs stay there too, so later validators still find their dependencies' data and
a late event does not start the run over). A declared run that is evicted before
its verdict is final gets a non-final verdict span (``incomplete_reason=evicted``)
rather than vanishing.

Timeouts never block the app and never cost a thread per run: each run keeps at
most one entry in a deadline heap; due entries are evaluated lazily on the next
act/assert call, by one small daemon timer thread that sleeps until the earliest
deadline, by :func:`check_timeouts` (serverless handlers, ``Analytics.flush``),
and at interpreter exit (runs still pending then are reported as ``running``).
"""

from __future__ import annotations

import atexit
import heapq
import itertools
import os
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from opentelemetry.trace import SpanContext

from botanu._safety import contained
from botanu.flows._model import Flow, declared
from botanu.flows._spans import emit_verdict_span
from botanu.flows._verdict import Arrival, RunVerdict, evaluate

DEFAULT_MAX_RUNS = 10_000
MAX_NODES_PER_RUN = 256
# Node data kept for later validators (ctx["deps"]) is bounded by size as well as by run count.
DEFAULT_MAX_DATA_BYTES = 32 * 1024 * 1024
MAX_NODE_DATA_BYTES = 256 * 1024
# The runs themselves (ids, baggage, arrivals) are bounded by their estimated size too: 10,000 runs
# with long ids and many nodes each would otherwise hold far more than their count suggests.
DEFAULT_MAX_RUN_BYTES = 64 * 1024 * 1024
_RUN_OVERHEAD = 1024  # the run object, its dicts and its heap entry
_ENTRY_OVERHEAD = 160  # one arrival or filtered node, or one baggage entry, besides its strings


class _Run:
    """One flow run as seen in this process."""

    __slots__ = (
        "anchor",
        "arrivals",
        "baggage",
        "data",
        "data_bytes",
        "emitted",
        "filtered",
        "flow",
        "flow_name",
        "footprint",
        "run_id",
        "scheduled",
        "started_at",
        "started_wall_ns",
    )

    def __init__(
        self,
        flow_name: str,
        run_id: str,
        flow: Flow | None,
        anchor: SpanContext | None,
        baggage_entries: Mapping[str, str],
        now: float,
    ) -> None:
        self.flow_name = flow_name
        self.run_id = run_id
        self.flow = flow  # the declaration this run started with (None: no verdict)
        self.anchor = anchor
        self.baggage = dict(baggage_entries)
        self.footprint = (
            _RUN_OVERHEAD
            + len(flow_name)
            + len(run_id)
            + sum(_ENTRY_OVERHEAD + len(k) + len(v) for k, v in self.baggage.items())
        )
        self.started_at = now
        self.started_wall_ns = time.time_ns()
        self.arrivals: dict[str, Arrival] = {}
        self.data: dict[str, Mapping[Any, Any]] = {}
        self.data_bytes = 0
        self.filtered: set[str] = set()
        self.emitted = False
        self.scheduled: float | None = None  # the deadline this run has in the heap


@dataclass(frozen=True, slots=True)
class _Emission:
    """A verdict to turn into a span once the lock is released."""

    verdict: RunVerdict
    anchor: SpanContext | None
    baggage: Mapping[str, str]
    started_wall_ns: int
    filtered: frozenset[str]
    incomplete_reason: str | None = None

    def emit(self) -> None:
        with contained("emitting a flow verdict"):
            emit_verdict_span(
                self.verdict,
                anchor=self.anchor,
                baggage_entries=self.baggage,
                started_wall_ns=self.started_wall_ns,
                filtered=self.filtered,
                incomplete_reason=self.incomplete_reason,
            )


class RunTracker:
    """The process-wide store of flow runs (one instance: :data:`tracker`)."""

    def __init__(self, max_runs: int = DEFAULT_MAX_RUNS, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_runs = max_runs
        self.max_data_bytes = DEFAULT_MAX_DATA_BYTES
        self.data_bytes = 0  # the estimated size of all kept node data
        self.max_run_bytes = DEFAULT_MAX_RUN_BYTES
        self.run_bytes = 0  # the estimated size of all runs, their data aside
        self.timer_enabled = True
        self._clock = clock
        self._runs: OrderedDict[tuple[str, str], _Run] = OrderedDict()
        self._heap: list[tuple[float, int, tuple[str, str]]] = []
        self._sequence = itertools.count()
        self._lock = threading.Lock()
        self._wakeup = threading.Condition(self._lock)
        self._timer: threading.Thread | None = None
        self._atexit_registered = False
        self.verdicts_emitted = 0

    # ------------------------------------------------------------------ recording

    def dependency_data(self, flow_name: str, run_id: str, dep_ids: tuple[str, ...]) -> list[dict[str, Any]]:
        """``[{flow, id, data}]`` of a node's dependencies already seen in this run (validator ``ctx``)."""
        with self._lock:
            run = self._runs.get((flow_name, run_id))
            if run is None:
                return []
            return [
                {"flow": flow_name, "id": dep, "data": run.data[dep]} for dep in dep_ids if dep in run.data
            ]

    def declared_deps(self, flow_name: str, node_id: str) -> tuple[str, ...] | None:
        """The declared dependencies of a node, or None when the node (or flow) is not declared."""
        flow = declared(flow_name)
        node = flow.node(node_id) if flow is not None else None
        return node.dep_ids if node is not None else None

    def observe(
        self,
        flow_name: str,
        run_id: str,
        arrival: Arrival,
        data: Mapping[Any, Any],
        anchor: SpanContext | None,
        baggage_entries: Mapping[str, str],
    ) -> bool:
        """Record a node's arrival; emit the run's verdict if it became final.

        ``data`` is kept (as a copy) for the validators of later nodes; returns False
        when it was too large to keep.
        """
        kept, size = snapshot(data)
        emissions: list[_Emission] = []
        with self._lock:
            now = self._clock()
            run = self._run(flow_name, run_id, anchor, baggage_entries, now, emissions)
            if arrival.node_id not in run.arrivals and len(run.arrivals) < MAX_NODES_PER_RUN:
                run.arrivals[arrival.node_id] = _at(arrival, now)
                self._grow(run, _ENTRY_OVERHEAD + len(arrival.node_id), now, emissions)
                if size <= MAX_NODE_DATA_BYTES:
                    run.data[arrival.node_id] = kept
                    run.data_bytes += size
                    self.data_bytes += size
                    self._trim_data(keep=run)
            self._evaluate(run, now, emissions)
            self._collect_due(now, emissions)
        self._emit(emissions)
        return size <= MAX_NODE_DATA_BYTES

    def _trim_data(self, keep: _Run) -> None:
        """Forget the data of the oldest runs until the kept data fits its budget again."""
        if self.data_bytes <= self.max_data_bytes:
            return
        for run in self._runs.values():
            if run is keep:
                break  # the newest run (where the data just arrived) keeps its data
            if run.data:
                self.data_bytes -= run.data_bytes
                run.data.clear()
                run.data_bytes = 0
                if self.data_bytes <= self.max_data_bytes:
                    return

    def note_filtered(
        self,
        flow_name: str,
        run_id: str,
        node_id: str,
        anchor: SpanContext | None,
        baggage_entries: Mapping[str, str],
    ) -> None:
        """Remember that ``filter`` was false for a node of a declared flow's run (it will be ``skipped``)."""
        if declared(flow_name) is None:
            self.check_timeouts()
            return
        emissions: list[_Emission] = []
        with self._lock:
            now = self._clock()
            run = self._run(flow_name, run_id, anchor, baggage_entries, now, emissions)
            if len(run.filtered) < MAX_NODES_PER_RUN and node_id not in run.filtered:
                run.filtered.add(node_id)
                self._grow(run, _ENTRY_OVERHEAD + len(node_id), now, emissions)
            self._evaluate(run, now, emissions)
            self._collect_due(now, emissions)
        self._emit(emissions)

    def _run(
        self,
        flow_name: str,
        run_id: str,
        anchor: SpanContext | None,
        baggage_entries: Mapping[str, str],
        now: float,
        emissions: list[_Emission],
    ) -> _Run:
        key = (flow_name, run_id)
        run = self._runs.get(key)
        if run is not None:
            self._runs.move_to_end(key)
            return run
        run = self._runs[key] = _Run(flow_name, run_id, declared(flow_name), anchor, baggage_entries, now)
        self.run_bytes += run.footprint
        if run.flow is not None:
            self._ensure_atexit()
        self._evict(now, emissions)
        return run

    def _grow(self, run: _Run, size: int, now: float, emissions: list[_Emission]) -> None:
        """``run`` holds ``size`` more bytes (estimated); the oldest runs go if all runs outgrow their cap."""
        run.footprint += size
        self.run_bytes += size
        if self.run_bytes > self.max_run_bytes:
            self._evict(now, emissions)

    def _evict(self, now: float, emissions: list[_Emission]) -> None:
        """Forget the least recently used runs while there are too many, or they take too much room.

        The newest run always stays (it is the one being recorded).
        """
        while len(self._runs) > 1 and (
            len(self._runs) > self.max_runs or self.run_bytes > self.max_run_bytes
        ):
            _, evicted = self._runs.popitem(last=False)
            self.data_bytes -= evicted.data_bytes
            self.run_bytes -= evicted.footprint
            if evicted.flow is not None and not evicted.emitted:
                emissions.append(self._finish(evicted, now, "evicted"))

    # ------------------------------------------------------------------ evaluating

    def _verdict(self, run: _Run, now: float | None) -> RunVerdict:
        return evaluate(
            run.flow_name,
            run.run_id,
            run.arrivals,
            flow=run.flow,
            started_at=run.started_at,
            now=now,
            filtered=run.filtered,
        )

    def _evaluate(self, run: _Run, now: float, emissions: list[_Emission]) -> None:
        if run.flow is None or run.emitted:
            return
        verdict = self._verdict(run, now)
        if verdict.final:
            run.emitted = True
            emissions.append(self._emission(run, verdict))
        elif verdict.next_deadline is not None and (
            run.scheduled is None or verdict.next_deadline < run.scheduled
        ):
            run.scheduled = verdict.next_deadline
            heapq.heappush(
                self._heap, (verdict.next_deadline, next(self._sequence), (run.flow_name, run.run_id))
            )
            self._compact_heap()
            self._ensure_timer()
            self._wakeup.notify()

    def _emission(self, run: _Run, verdict: RunVerdict, incomplete_reason: str | None = None) -> _Emission:
        return _Emission(
            verdict, run.anchor, run.baggage, run.started_wall_ns, frozenset(run.filtered), incomplete_reason
        )

    def _finish(self, run: _Run, now: float, reason: str) -> _Emission:
        """The verdict of a run that will not be watched any longer (evicted, or the process is exiting)."""
        run.emitted = True
        verdict = self._verdict(run, now)
        return self._emission(run, verdict, None if verdict.final else reason)

    def _collect_due(self, now: float, emissions: list[_Emission]) -> None:
        while self._heap and self._heap[0][0] <= now:
            deadline, _, key = heapq.heappop(self._heap)
            run = self._runs.get(key)
            if run is None or run.scheduled != deadline:
                continue  # evicted, or rescheduled: a stale entry
            run.scheduled = None
            self._evaluate(run, now, emissions)

    def _compact_heap(self) -> None:
        # Stale entries (evicted or rescheduled runs) are normally dropped when due;
        # rebuild if they ever outnumber live runs by far, to keep the heap bounded.
        if len(self._heap) > 4 * self.max_runs + 64:
            self._heap = [
                entry
                for entry in self._heap
                if (run := self._runs.get(entry[2])) is not None and run.scheduled == entry[0]
            ]
            heapq.heapify(self._heap)

    def _emit(self, emissions: list[_Emission]) -> None:
        for emission in emissions:
            emission.emit()
        if emissions:
            with self._lock:
                self.verdicts_emitted += len(emissions)

    # ------------------------------------------------------------------ timeouts

    def check_timeouts(self) -> int:
        """Evaluate every run whose next deadline has passed; return how many verdicts were emitted."""
        emissions: list[_Emission] = []
        with self._lock:
            if self._heap and self._heap[0][0] <= self._clock():
                self._collect_due(self._clock(), emissions)
        self._emit(emissions)
        return len(emissions)

    def finish_all(self, reason: str = "shutdown") -> int:
        """Emit a verdict for every declared run not yet reported (final if it is, else ``running``)."""
        emissions: list[_Emission] = []
        with self._lock:
            now = self._clock()
            for run in self._runs.values():
                if run.flow is not None and not run.emitted:
                    emissions.append(self._finish(run, now, reason))
            self._heap.clear()
        self._emit(emissions)
        return len(emissions)

    def _ensure_timer(self) -> None:
        if not self.timer_enabled or (self._timer is not None and self._timer.is_alive()):
            return
        self._timer = threading.Thread(target=self._timer_loop, name="botanu-flow-timeouts", daemon=True)
        self._timer.start()

    def _timer_loop(self) -> None:
        while True:
            with self._wakeup:
                if not self.timer_enabled:
                    self._timer = None
                    return
                delay = self._heap[0][0] - self._clock() if self._heap else None
                if delay is None or delay > 0:
                    # Woken early by a new earlier deadline, a reset, or time passing.
                    self._wakeup.wait(delay)
                    continue
            with contained("checking flow timeouts"):
                self.check_timeouts()

    def _ensure_atexit(self) -> None:
        # Registered on the first declared run, normally after botanu.init(): atexit runs
        # handlers last-in first-out, so these verdicts are emitted before the pipeline flushes.
        if not self._atexit_registered:
            atexit.register(self._at_exit)
            self._atexit_registered = True

    def _at_exit(self) -> None:
        with contained("reporting flow runs at exit"):
            self.finish_all("shutdown")

    # ------------------------------------------------------------------ configuration

    def configure(
        self,
        *,
        max_runs: int | None = None,
        timer: bool | None = None,
        max_data_bytes: int | None = None,
        max_run_bytes: int | None = None,
    ) -> None:
        with self._wakeup:
            if max_runs is not None:
                self.max_runs = max_runs
            if max_run_bytes is not None:
                self.max_run_bytes = max_run_bytes
            if max_data_bytes is not None:
                self.max_data_bytes = max_data_bytes
            if timer is not None:
                self.timer_enabled = timer
            self._wakeup.notify_all()

    def pending_runs(self) -> int:
        """How many declared runs are waiting for a verdict."""
        with self._lock:
            return sum(1 for run in self._runs.values() if run.flow is not None and not run.emitted)

    def reset(self) -> None:
        """Forget every run (for tests); the timer thread, if any, goes back to sleep."""
        with self._wakeup:
            self._runs.clear()
            self._heap.clear()
            self.max_runs = DEFAULT_MAX_RUNS
            self.max_data_bytes = DEFAULT_MAX_DATA_BYTES
            self.data_bytes = 0
            self.max_run_bytes = DEFAULT_MAX_RUN_BYTES
            self.run_bytes = 0
            self.timer_enabled = True
            self.verdicts_emitted = 0
            self._wakeup.notify_all()


_MAX_SNAPSHOT_DEPTH = 16
_COPIED_SEQUENCES = (list, tuple, set, frozenset)  # exact types: subclasses are kept as they are


def snapshot(data: Mapping[Any, Any]) -> tuple[dict[Any, Any], int]:
    """A copy of a node's data that later changes by the app cannot alter, and its estimated size.

    Dicts, lists, tuples and sets are copied (down to a depth limit); other objects
    are kept as they are and counted at their own (shallow) size.
    """
    size = 0

    def copy(value: Any, depth: int) -> Any:
        nonlocal size
        size += sys.getsizeof(value)
        if size > MAX_NODE_DATA_BYTES:
            raise _TooLarge  # stop at once: the copy would not be kept anyway
        if depth >= _MAX_SNAPSHOT_DEPTH:
            return value
        if isinstance(value, Mapping):
            return {copy(key, depth + 1): copy(item, depth + 1) for key, item in value.items()}
        kind = type(value)
        if kind in _COPIED_SEQUENCES:
            return kind(copy(item, depth + 1) for item in value)
        return value

    try:
        kept = {key: copy(value, 1) for key, value in data.items()}
    except Exception:  # too large, or iteration or hashing failed inside the app's objects: keep nothing
        return {}, MAX_NODE_DATA_BYTES + 1
    return kept, size


class _TooLarge(Exception):
    """The data being copied passed the per-node limit."""


def _at(arrival: Arrival, now: float) -> Arrival:
    """The arrival stamped with the tracker's clock (the caller cannot know it)."""
    return Arrival(arrival.node_id, now, arrival.node_type, arrival.dep_ids, arrival.passed, arrival.reason)


tracker = RunTracker()


def _after_fork_in_child() -> None:
    # A lock held by another thread at fork() would stay held forever in the child.
    tracker._lock = threading.Lock()
    tracker._wakeup = threading.Condition(tracker._lock)
    tracker._timer = None  # threads do not survive fork; a new one starts when needed
    # The parent's runs are the parent's to report: a child reporting them too would emit a
    # second verdict for each at its exit.
    tracker._runs.clear()
    tracker._heap.clear()
    tracker.data_bytes = 0
    tracker.run_bytes = 0


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)

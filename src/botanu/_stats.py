"""Process-wide counters that account for every span and log record botanu handles.

Each item (span or log record) handed to botanu's delivery processor is in
exactly one state at any moment, and every change of state is one move made
under one lock, so the conservation law holds in every snapshot, not only at
quiet times. Each signal keeps its own books (a :class:`Ledger`)::

    queued + spool_adopted == exported + replayed + dropped_total + pending
    pending                == in_memory + spool_pending

* ``queued``         items that reached the delivery processor (``spans_queued``
  for spans, ``records_queued`` for log records);
* ``spool_adopted``  items this process took over from spool files it did not
  write (an earlier run, another process sharing the spool);
* ``exported``       items the collector accepted on the first (live) path;
* ``replayed``       items the collector accepted from the spool;
* ``dropped``        items that will never be delivered, by reason;
* ``in_memory``      items in the queue or in a batch being exported;
* ``spool_pending``  items in spool files this process wrote or adopted and
  has not yet replayed or dropped.

The module-level functions keep the spans' books (:data:`spans`); the log
pipeline uses :data:`logs`. Counters are per process: a forked child starts
from zero (the parent's queue and spool writes are the parent's to account for).
"""

from __future__ import annotations

import os
import threading
from collections import Counter
from collections.abc import Mapping
from typing import Any

# Exposed so the delivery processor can update its queue and the counters in one
# critical section (one lock per item on the hot path), shared by both ledgers.
# Always read it as ``_stats.lock``: it is replaced in a forked child.
lock = threading.Lock()


class _Tally:
    """The counters of the conservation law (plain ints: cheap to bump under ``lock``)."""

    __slots__ = (
        "exported",
        "in_memory",
        "queued",
        "replayed",
        "spool_adopted",
        "spool_pending",
        "spooled",
    )

    def __init__(self) -> None:
        self.queued = 0
        self.in_memory = 0
        self.exported = 0
        self.spooled = 0
        self.spool_pending = 0
        self.spool_adopted = 0
        self.replayed = 0


_LAW = ("exported", "in_memory", "replayed", "spool_adopted", "spool_pending", "spooled")


class Ledger:
    """The books of one signal: every item queued, then exported, spooled or dropped.

    ``noun`` names one item in the loss line ("span", "log record"); ``queued_key``
    names the ``queued`` counter in snapshots (``spans_queued``, ``records_queued``).
    """

    def __init__(self, noun: str, queued_key: str) -> None:
        self.noun = noun
        self.queued_key = queued_key
        self.tally = _Tally()
        self.dropped: Counter[str] = Counter()

    # ------------------------------------------------------------------ moves (caller holds ``lock``)

    def queued_locked(self, amount: int = 1) -> None:
        """Items entered the queue (caller holds ``lock``)."""
        self.tally.queued += amount
        self.tally.in_memory += amount

    def refused_locked(self, reason: str, amount: int = 1) -> None:
        """Items reached the processor but could not be queued (caller holds ``lock``)."""
        self.tally.queued += amount
        self.dropped[reason] += amount

    def settled_locked(
        self, amount: int, exported: int = 0, spooled: int = 0, dropped: Mapping[str, int] | None = None
    ) -> None:
        """``amount`` in-memory items left the queue: exported, spooled or dropped (caller holds ``lock``)."""
        tally = self.tally
        tally.in_memory -= amount
        tally.exported += exported
        tally.spooled += spooled
        tally.spool_pending += spooled
        named = 0
        for reason, count in (dropped or {}).items():
            self.dropped[reason] += count
            named += count
        # Whatever the outcome does not name was lost for an unknown reason: never let it vanish.
        rest = amount - exported - spooled - named
        if rest > 0:
            self.dropped["unknown"] += rest

    # ------------------------------------------------------------------ moves (take the lock)

    def handled_directly(
        self, amount: int, exported: int = 0, spooled: int = 0, dropped: Mapping[str, int] | None = None
    ) -> None:
        """Items exported outside botanu's queue (the exporter used under a foreign processor)."""
        with lock:
            self.queued_locked(amount)
            self.settled_locked(amount, exported, spooled, dropped)

    def spool_adopted(self, amount: int) -> None:
        """This process took responsibility for items in a spool file it did not write."""
        with lock:
            self.tally.spool_adopted += amount
            self.tally.spool_pending += amount

    def spool_replayed(self, amount: int, rejected: int = 0) -> None:
        """Items left the spool because the collector took them (``rejected`` of them it refused)."""
        with lock:
            self.tally.spool_pending -= amount
            self.tally.replayed += amount - rejected
            if rejected:
                self.dropped["rejected_by_collector"] += rejected

    def spool_dropped(self, reason: str, amount: int) -> None:
        """Items left the spool without delivery (evicted, too old, corrupt, refused)."""
        with lock:
            self.tally.spool_pending -= amount
            self.dropped[reason] += amount

    # ------------------------------------------------------------------ reading

    def snapshot(self) -> dict[str, Any]:
        """The law's terms and whether it holds (``balanced``)."""
        with lock:
            return self._snapshot_locked()

    def _snapshot_locked(self) -> dict[str, Any]:
        tally = self.tally
        out: dict[str, Any] = {self.queued_key: tally.queued}
        for name in _LAW:
            out[name] = getattr(tally, name)
        dropped = {reason: count for reason, count in self.dropped.items() if count}
        out["dropped"] = dropped
        out["dropped_total"] = sum(dropped.values())
        out["pending"] = out["in_memory"] + out["spool_pending"]
        out["balanced"] = out[self.queued_key] + out["spool_adopted"] == (
            out["exported"] + out["replayed"] + out["dropped_total"] + out["pending"]
        )
        return out

    def loss_summary(self) -> str | None:
        """One line saying how many items this process did not deliver and why, or None."""
        return self._loss_line(self.snapshot())

    def _loss_line(self, snap: dict[str, Any]) -> str | None:
        dropped: dict[str, int] = snap["dropped"]
        spooled = max(0, snap["spool_pending"])
        # Still queued or in flight when this is asked (at exit: the budget ran out before they were
        # sent or spooled): the process ends without them.
        in_memory = max(0, snap["in_memory"])
        if not dropped and not spooled and not in_memory:
            return None
        parts = []
        if in_memory:
            parts.append(f"{in_memory} still in memory when time ran out (lost at exit)")
        if spooled:
            parts.append(f"{spooled} kept in the spool, to be sent when the collector is reachable")
        if dropped:
            details = ", ".join(f"{reason}: {count}" for reason, count in sorted(dropped.items()))
            parts.append(f"{snap['dropped_total']} dropped ({details})")
        total = in_memory + spooled + snap["dropped_total"]
        return f"botanu: {total} {self.noun}(s) were not delivered this run: " + "; ".join(parts)

    def _reset(self) -> None:
        self.tally = _Tally()
        self.dropped.clear()


spans = Ledger("span", "spans_queued")
logs = Ledger("log record", "records_queued")
_LEDGERS = (spans, logs)
_counts: Counter[str] = Counter()


# --------------------------------------------------------------------------- generic counters


def add(name: str, amount: int = 1) -> None:
    """Add to an informational counter (``export_requests``, ``spool_files_corrupt``, redactions ...)."""
    with lock:
        _counts[name] += amount


def get(name: str) -> int:
    """Current value of a counter (the spans' law counters included)."""
    with lock:
        if name == "spans_queued":
            return spans.tally.queued
        if name in _LAW:
            return int(getattr(spans.tally, name))
        return _counts[name]


# --------------------------------------------------------------------------- the spans' books

queued_locked = spans.queued_locked
refused_locked = spans.refused_locked
settled_locked = spans.settled_locked
handled_directly = spans.handled_directly
spool_adopted = spans.spool_adopted
spool_replayed = spans.spool_replayed
spool_dropped = spans.spool_dropped


def snapshot() -> dict[str, Any]:
    """All counters: the spans' law at the top level, the log records' under ``"logs"``."""
    with lock:
        out: dict[str, Any] = dict(_counts)
        out.update(spans._snapshot_locked())
        out["logs"] = logs._snapshot_locked()
    return out


def loss_summary(wait: float | None = None) -> str | None:
    """The loss lines of every signal (one line each), or None when nothing was lost.

    ``wait`` bounds the wait for the counters' lock (the exit path, where the thread holding it
    may never run again); past it, a line says the counts could not be read.
    """
    if wait is None:
        lines = [line for line in (ledger.loss_summary() for ledger in _LEDGERS) if line]
        return "\n".join(lines) if lines else None
    if not lock.acquire(timeout=wait):
        return "botanu: the exit flush did not finish in time; spans and log records still queued are lost"
    try:
        snaps = [(ledger, ledger._snapshot_locked()) for ledger in _LEDGERS]
    finally:
        lock.release()
    lines = [line for line in (ledger._loss_line(snap) for ledger, snap in snaps) if line]
    return "\n".join(lines) if lines else None


def reset() -> None:
    """Zero every counter (tests; a forked child)."""
    with lock:
        for ledger in _LEDGERS:
            ledger._reset()
        _counts.clear()


def _reset_in_child() -> None:
    # The lock may have been held by another thread at fork time: never reuse it.
    global lock
    lock = threading.Lock()
    for ledger in _LEDGERS:
        ledger._reset()
    _counts.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_in_child)

"""Process-wide counters that account for every span botanu handles.

Each span handed to botanu's delivery processor is in exactly one state at any
moment, and every change of state is one move made under one lock, so the
conservation law holds in every snapshot, not only at quiet times::

    spans_queued + spool_adopted == exported + replayed + dropped_total + pending
    pending                      == in_memory + spool_pending

* ``spans_queued``   sampled spans that reached the delivery processor;
* ``spool_adopted``  spans this process took over from spool files it did not
  write (an earlier run, another process sharing the spool);
* ``exported``       spans the collector accepted on the first (live) path;
* ``replayed``       spans the collector accepted from the spool;
* ``dropped``        spans that will never be delivered, by reason;
* ``in_memory``      spans in the queue or in a batch being exported;
* ``spool_pending``  spans in spool files this process wrote or adopted and
  has not yet replayed or dropped.

Counters are per process: a forked child starts from zero (the parent's queue
and spool writes are the parent's to account for).
"""

from __future__ import annotations

import os
import threading
from collections import Counter
from collections.abc import Mapping
from typing import Any

# Exposed so the delivery processor can update its queue and the counters in one
# critical section (one lock per span on the hot path). Always read it as
# ``_stats.lock``: it is replaced in a forked child.
lock = threading.Lock()


class _Tally:
    """The counters of the conservation law (plain ints: cheap to bump under ``lock``)."""

    __slots__ = (
        "exported",
        "in_memory",
        "replayed",
        "spans_queued",
        "spool_adopted",
        "spool_pending",
        "spooled",
    )

    def __init__(self) -> None:
        self.spans_queued = 0
        self.in_memory = 0
        self.exported = 0
        self.spooled = 0
        self.spool_pending = 0
        self.spool_adopted = 0
        self.replayed = 0


tally = _Tally()
_counts: Counter[str] = Counter()
_dropped: Counter[str] = Counter()


# --------------------------------------------------------------------------- generic counters


def add(name: str, amount: int = 1) -> None:
    """Add to an informational counter (``export_requests``, ``spool_files_corrupt``, redactions ...)."""
    with lock:
        _counts[name] += amount


def get(name: str) -> int:
    """Current value of a counter (law counters included)."""
    with lock:
        if name in _Tally.__slots__:
            return int(getattr(tally, name))
        return _counts[name]


# --------------------------------------------------------------------------- moves (call with ``lock`` held)


def queued_locked(amount: int = 1) -> None:
    """Spans entered the queue (caller holds ``lock``)."""
    tally.spans_queued += amount
    tally.in_memory += amount


def refused_locked(reason: str, amount: int = 1) -> None:
    """Spans reached the processor but could not be queued (caller holds ``lock``)."""
    tally.spans_queued += amount
    _dropped[reason] += amount


def settled_locked(
    amount: int, exported: int = 0, spooled: int = 0, dropped: Mapping[str, int] | None = None
) -> None:
    """``amount`` in-memory spans left the queue: exported, spooled or dropped (caller holds ``lock``)."""
    tally.in_memory -= amount
    tally.exported += exported
    tally.spooled += spooled
    tally.spool_pending += spooled
    named = 0
    for reason, count in (dropped or {}).items():
        _dropped[reason] += count
        named += count
    # Whatever the outcome does not name was lost for an unknown reason: never let it vanish.
    rest = amount - exported - spooled - named
    if rest > 0:
        _dropped["unknown"] += rest


# --------------------------------------------------------------------------- moves (take the lock)


def handled_directly(
    amount: int, exported: int = 0, spooled: int = 0, dropped: Mapping[str, int] | None = None
) -> None:
    """Spans exported outside botanu's queue (the exporter used under a foreign processor)."""
    with lock:
        queued_locked(amount)
        settled_locked(amount, exported, spooled, dropped)


def spool_adopted(amount: int) -> None:
    """This process took responsibility for spans in a spool file it did not write."""
    with lock:
        tally.spool_adopted += amount
        tally.spool_pending += amount


def spool_replayed(amount: int, rejected: int = 0) -> None:
    """Spans left the spool because the collector took them (``rejected`` of them it refused)."""
    with lock:
        tally.spool_pending -= amount
        tally.replayed += amount - rejected
        if rejected:
            _dropped["rejected_by_collector"] += rejected


def spool_dropped(reason: str, amount: int) -> None:
    """Spans left the spool without delivery (evicted, too old, corrupt, refused)."""
    with lock:
        tally.spool_pending -= amount
        _dropped[reason] += amount


# --------------------------------------------------------------------------- reading


def snapshot() -> dict[str, Any]:
    """All counters, the law's terms and whether it holds (``balanced``)."""
    with lock:
        out: dict[str, Any] = dict(_counts)
        for name in _Tally.__slots__:
            out[name] = getattr(tally, name)
        dropped = {reason: count for reason, count in _dropped.items() if count}
    out["dropped"] = dropped
    out["dropped_total"] = sum(dropped.values())
    out["pending"] = out["in_memory"] + out["spool_pending"]
    out["balanced"] = out["spans_queued"] + out["spool_adopted"] == (
        out["exported"] + out["replayed"] + out["dropped_total"] + out["pending"]
    )
    return out


def loss_summary() -> str | None:
    """One line saying how many spans this process did not deliver and why, or None."""
    snap = snapshot()
    dropped: dict[str, int] = snap["dropped"]
    spooled = max(0, snap["spool_pending"])
    if not dropped and not spooled:
        return None
    parts = []
    if spooled:
        parts.append(f"{spooled} kept in the spool, to be sent when the collector is reachable")
    if dropped:
        details = ", ".join(f"{reason}: {count}" for reason, count in sorted(dropped.items()))
        parts.append(f"{snap['dropped_total']} dropped ({details})")
    total = spooled + snap["dropped_total"]
    return f"botanu: {total} span(s) were not delivered this run: " + "; ".join(parts)


def reset() -> None:
    """Zero every counter (tests; a forked child)."""
    global tally
    with lock:
        tally = _Tally()
        _counts.clear()
        _dropped.clear()


def _reset_in_child() -> None:
    # The lock may have been held by another thread at fork time: never reuse it.
    global lock, tally
    lock = threading.Lock()
    tally = _Tally()
    _counts.clear()
    _dropped.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_in_child)

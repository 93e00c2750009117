"""Process-wide redaction counters, so users can see that redaction runs and what it catches."""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Iterable
from typing import Any


class _Stats:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            # Every span calls next(STATS._seen): next() on itertools.count is atomic in CPython,
            # so the hot path takes no lock.
            self._seen = itertools.count()
            self._changed = 0
            self._values = 0
            self._failures = 0
            self._dropped = 0
            self._by_rule: dict[str, int] = {}

    def span_changed(self, tally: Iterable[tuple[str, ...]]) -> None:
        with self._lock:
            self._changed += 1
            self._count(tally)

    def values_redacted(self, tally: Iterable[tuple[str, ...]]) -> None:
        """Redactions outside spans (log records, direct API use)."""
        with self._lock:
            self._count(tally)

    def _count(self, tally: Iterable[tuple[str, ...]]) -> None:
        for rules in tally:
            self._values += 1
            for rule in rules:
                self._by_rule[rule] = self._by_rule.get(rule, 0) + 1

    def failure(self, dropped: bool = False) -> None:
        with self._lock:
            self._failures += 1
            if dropped:
                self._dropped += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            # repr(count(7)) == "count(7)": the only way to read a count without advancing it.
            seen = int(repr(self._seen)[6:-1])
            return {
                "spans_seen": seen,
                "spans_changed": self._changed,
                "values_redacted": self._values,
                "by_rule": dict(sorted(self._by_rule.items())),
                "failures": self._failures,
                "spans_dropped": self._dropped,
            }


STATS = _Stats()


def redaction_stats() -> dict[str, Any]:
    """Process totals since start (or the last :func:`reset_redaction_stats`).

    Keys: ``spans_seen`` (spans that went through a :class:`RedactingSpanProcessor`),
    ``spans_changed`` (spans exported as a redacted copy), ``values_redacted`` (values or
    regions of text replaced, spans and direct API calls together), ``by_rule`` (rule name ->
    count; a region matched by two rules counts for both), ``failures`` (spans whose redaction
    raised and that were exported with every string replaced) and ``spans_dropped`` (spans that
    could not even be copied safely and were not exported).
    """
    return STATS.snapshot()


def reset_redaction_stats() -> None:
    """Set every counter back to zero (for tests and benchmarks)."""
    STATS.reset()


def _after_fork_in_child() -> None:
    STATS._lock = threading.Lock()  # a lock held by another thread at fork() would stay held


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)

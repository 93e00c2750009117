"""Process-wide counters that account for every span botanu handles."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

_lock = threading.Lock()
_counts: Counter[str] = Counter()
_dropped: Counter[str] = Counter()


def add(name: str, amount: int = 1) -> None:
    """Add to a named counter (``spans_ended``, ``exported``, ``export_failed`` ...)."""
    with _lock:
        _counts[name] += amount


def drop(reason: str, amount: int = 1) -> None:
    """Count spans that will never be delivered, by reason."""
    with _lock:
        _dropped[reason] += amount


def get(name: str) -> int:
    with _lock:
        return _counts[name]


def snapshot() -> dict[str, Any]:
    with _lock:
        out: dict[str, Any] = dict(_counts)
        out["dropped"] = dict(_dropped)
    return out


def reset() -> None:
    with _lock:
        _counts.clear()
        _dropped.clear()

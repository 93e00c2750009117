"""Targets for multiprocessing tests (importable, so the spawn start method can find them)."""

from __future__ import annotations

from typing import Any

import botanu


def emit(tag: str, count: int) -> None:
    for index in range(count):
        with botanu.event(event_id=f"{tag}-{index}", customer_id="c", workflow="Worker"):
            pass


def init_botanu(settings: dict[str, Any]) -> None:
    """A Pool initializer: with spawn, each worker is a fresh interpreter and needs its own init()."""
    botanu.init(**settings)


def init_then_emit(settings: dict[str, Any], tag: str, count: int) -> None:
    init_botanu(settings)
    emit(tag, count)


def emit_one_batch(tag: str) -> str:
    emit(tag, 10)
    return tag

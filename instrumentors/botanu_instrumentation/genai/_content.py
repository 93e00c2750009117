"""Whether the current run records prompt and completion content.

Content is off by default. A run records it when its ``event(capture_input=True)`` says
so, or, without that argument, for the share of runs ``content_capture_rate``
(``BOTANU_CONTENT_CAPTURE_RATE``) selects. The share is drawn from the run id, so every
LLM call of one run, in any thread, task or process that carries the run, decides alike.
Outside a run nothing is recorded.
"""

from __future__ import annotations

from typing import Any

from opentelemetry import context

try:  # botanu is the distribution these instrumentors ship in; stay importable without it
    from botanu.context import _run
except Exception:  # pragma: no cover - botanu missing or broken: content stays off
    _run = None  # type: ignore[assignment]


def _share(run_id: str) -> float:
    """A stable number in [0, 1) from the run id's random tail (UUIDv7: the last bits are random)."""
    try:
        return int(run_id.replace("-", "")[-8:], 16) / 0x1_0000_0000
    except ValueError:
        return (hash(run_id) & 0xFFFF_FFFF) / 0x1_0000_0000


def capture_content() -> bool:
    """True when the run in the current context records gen_ai input and output messages."""
    if _run is None:
        return False
    run: Any = context.get_value(_run._RUN_KEY)
    if run is None:
        rate = _run._capture_rate
        if rate <= 0.0:
            return False
        found = _run.current_run()  # a run that arrived through baggage
        return found is not None and _share(found.run_id) < rate
    state = run._state
    if state is not None:
        explicit = getattr(state.owner, "_capture_input", None)
        if explicit is not None:
            return explicit is True
    rate = _run._capture_rate
    return rate > 0.0 and (rate >= 1.0 or _share(run.run_id) < rate)

"""Shared OpenTelemetry plumbing for botanu's own spans."""

from __future__ import annotations

from collections.abc import Mapping

from opentelemetry import baggage, context, trace

from botanu._version import __version__

INSTRUMENTATION_NAME = "botanu"

_tracer: trace.Tracer | None = None

try:  # One context copy for many entries instead of one per set_baggage() call.
    from opentelemetry.baggage import _BAGGAGE_KEY as _BAGGAGE_CONTEXT_KEY
except ImportError:  # pragma: no cover - the private name moved; fall back to the public API
    _BAGGAGE_CONTEXT_KEY = None


def tracer() -> trace.Tracer:
    """Return botanu's tracer from the current global provider (cached)."""
    global _tracer
    if _tracer is None:
        _tracer = trace.get_tracer(INSTRUMENTATION_NAME, __version__)
    return _tracer


def reset_tracer() -> None:
    """Forget the cached tracer (after the global provider changed)."""
    global _tracer
    _tracer = None


def with_baggage(
    ctx: context.Context, entries: Mapping[str, str], remove: tuple[str, ...] = ()
) -> context.Context:
    """Return ``ctx`` with ``entries`` added to (and ``remove`` taken from) its baggage."""
    if _BAGGAGE_CONTEXT_KEY is None:  # pragma: no cover - see import above
        for key, value in entries.items():
            ctx = baggage.set_baggage(key, value, ctx)
        for key in remove:
            ctx = baggage.remove_baggage(key, ctx)
        return ctx
    merged = dict(baggage_map(ctx))
    merged.update(entries)
    for key in remove:
        merged.pop(key, None)
    return context.set_value(_BAGGAGE_CONTEXT_KEY, merged, ctx)


def baggage_map(ctx: context.Context) -> Mapping[str, object]:
    """The context's baggage map itself (not a copy), so callers can cache by identity."""
    if _BAGGAGE_CONTEXT_KEY is None:  # pragma: no cover - see import above
        return baggage.get_all(ctx)
    found = ctx.get(_BAGGAGE_CONTEXT_KEY)
    return found if isinstance(found, dict) else {}

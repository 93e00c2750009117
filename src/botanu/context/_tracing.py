"""Shared OpenTelemetry plumbing for botanu's own spans."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from opentelemetry import baggage, context, trace
from opentelemetry.sdk.trace import SpanProcessor
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

from botanu._version import __version__

INSTRUMENTATION_NAME = "botanu"

_tracer: trace.Tracer | None = None

# The API keys under which the current span and the baggage live in a Context. With them,
# botanu derives a run's context in one copy instead of one copy per set_value() call.
# They are private names, so each has a fallback to the public API.
try:
    from opentelemetry.baggage import _BAGGAGE_KEY as _BAGGAGE_CONTEXT_KEY
except ImportError:  # pragma: no cover
    _BAGGAGE_CONTEXT_KEY = None
try:
    from opentelemetry.trace.propagation import _SPAN_KEY
except ImportError:  # pragma: no cover
    _SPAN_KEY = None


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
    return context.set_value(_BAGGAGE_CONTEXT_KEY, merged_baggage(ctx, entries, remove), ctx)


def derive_context(
    parent: context.Context,
    span: trace.Span,
    baggage_entries: Mapping[str, object] | None,
    values: Mapping[str, object],
) -> context.Context:
    """``parent`` with ``span`` current, its baggage replaced by ``baggage_entries`` (unless None),
    and ``values`` set, in a single copy."""
    if _SPAN_KEY is None or _BAGGAGE_CONTEXT_KEY is None:  # pragma: no cover - see imports above
        ctx = trace.set_span_in_context(span, parent)
        if baggage_entries is not None:
            ctx = baggage.clear(ctx)
            for key, value in baggage_entries.items():
                ctx = baggage.set_baggage(key, value, ctx)
        for key, value in values.items():
            ctx = context.set_value(key, value, ctx)
        return ctx
    items = dict(parent)
    items[_SPAN_KEY] = span
    if baggage_entries is not None:
        items[_BAGGAGE_CONTEXT_KEY] = baggage_entries
    items.update(values)
    return context.Context(items)


def merged_baggage(
    ctx: context.Context, entries: Mapping[str, str], remove: tuple[str, ...] = ()
) -> dict[str, object]:
    """The baggage of ``ctx`` with ``entries`` added and ``remove`` taken out (a new map)."""
    merged = dict(baggage_map(ctx))
    merged.update(entries)
    for key in remove:
        merged.pop(key, None)
    return merged


def baggage_map(ctx: context.Context) -> Mapping[str, object]:
    """The context's baggage map itself (not a copy), so callers can cache by identity."""
    if _BAGGAGE_CONTEXT_KEY is None:  # pragma: no cover - see import above
        return baggage.get_all(ctx)
    found = ctx.get(_BAGGAGE_CONTEXT_KEY)
    return found if isinstance(found, dict) else _NO_BAGGAGE


_NO_BAGGAGE: Mapping[str, object] = MappingProxyType({})  # read only: callers may cache it


# The SDK's own processors ignore span starts and the "ending" callback: passing either on to
# them is a call per span for nothing.
_IGNORES_START = {SpanProcessor.on_start, BatchSpanProcessor.on_start, SimpleSpanProcessor.on_start}
_IGNORES_ENDING = {
    getattr(cls, "_on_ending", None) for cls in (SpanProcessor, BatchSpanProcessor, SimpleSpanProcessor)
}


def uses_start(processor: SpanProcessor) -> bool:
    """Whether ``processor`` does anything at span start (the SDK's own processors do not)."""
    return getattr(type(processor), "on_start", None) not in _IGNORES_START


def ending_callback(processor: SpanProcessor) -> Callable[[Any], None] | None:
    """``processor._on_ending`` where it does something, else None (the caller skips the call).

    The SDK's own processors ignore it; a stage that only passes it on says with ``needs_ending``
    whether anything behind it uses it.
    """
    if getattr(type(processor), "_on_ending", None) in _IGNORES_ENDING:
        return None
    if not getattr(processor, "needs_ending", True):
        return None
    return getattr(processor, "_on_ending", None)

"""The trace id back to the caller, and TraceHub's ``X-Trace-ID`` on the way in.

Every response of a traced request carries, by default,

* ``traceresponse: 00-<trace id>-<server span id>-<flags>`` (W3C Trace Context Level 2), and
* ``X-Trace-ID: <32 hex trace id>`` (TraceHub's header),

as set by ``trace_response_headers`` / ``BOTANU_TRACE_RESPONSE_HEADERS``: a list of header
names where ``traceresponse`` is the W3C header and any other name carries the bare trace id.

One object writes them: :class:`BotanuResponsePropagator`, installed as contrib's global
response propagator (``opentelemetry.instrumentation.propagators``). The contrib ASGI, Flask
and Django instrumentations call it with the server span when a response starts, so the
headers come with no code under ``botanu run`` / ``opentelemetry-instrument``; botanu's own
middlewares call it too. It never writes a header the response already has, so when two
layers (a middleware and an instrumentation) both offer it a response, each header appears
once.

A caller that sends TraceHub's ``X-Trace-ID`` and no ``traceparent`` gets its id recorded on
the server span as ``botanu.inbound_trace_id`` (the trace itself starts fresh: a caller does
not choose the service's trace id), so old clients can still be correlated.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from typing import Any

from opentelemetry import context as context_api
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.instrumentation import propagators as response_propagators
from opentelemetry.instrumentation.propagators import ResponsePropagator, TraceResponsePropagator
from opentelemetry.propagators.textmap import CarrierT, Getter, Setter
from opentelemetry.trace import format_span_id, format_trace_id

from botanu import _safety

logger = logging.getLogger("botanu")

TRACERESPONSE = "traceresponse"
INBOUND_TRACE_ID_HEADER = "X-Trace-ID"
INBOUND_TRACE_ID_ATTRIBUTE = "botanu.inbound_trace_id"
DEFAULT_HEADERS: tuple[str, ...] = (TRACERESPONSE, INBOUND_TRACE_ID_HEADER)
_EXPOSE = "access-control-expose-headers"
_ALLOW_ORIGIN = "access-control-allow-origin"

# The inbound X-Trace-ID, kept in the context the server span starts from (see note_inbound_trace_id).
_INBOUND_KEY = context_api.create_key("botanu-inbound-trace-id")
_TRACE_ID_RE = re.compile(r"[0-9a-f]{32}")


def parse_trace_id(value: object) -> str | None:
    """A caller's trace id as 32 lowercase hex (a UUID's dashes removed), or None if it is not one."""
    if not isinstance(value, str) or len(value) > 64:
        return None
    text = value.strip().lower().replace("-", "")
    if not _TRACE_ID_RE.fullmatch(text) or text == "0" * 32:
        return None
    return text


def header_values(span_context: trace.SpanContext, names: Sequence[str]) -> list[tuple[str, str]]:
    """``(name, value)`` for each configured header, for the server span ``span_context``."""
    trace_id = format_trace_id(span_context.trace_id)
    out = []
    for name in names:
        if name.lower() == TRACERESPONSE:
            span_id = format_span_id(span_context.span_id)
            value = f"00-{trace_id}-{span_id}-{int(span_context.trace_flags):02x}"
        else:
            value = trace_id
        out.append((name, value))
    return out


def _decode(item: object) -> str:
    if isinstance(item, bytes):
        return item.decode("latin-1")
    return str(item)


def existing_headers(carrier: object) -> list[tuple[str, str]] | None:
    """The response headers already in ``carrier`` (lowercase names), or None for an unknown carrier.

    The carriers the contrib instrumentations hand a response propagator: an ASGI
    ``http.response.start`` message, a WSGI header list, a Django ``HttpResponse``.
    """
    headers: Any
    if isinstance(carrier, dict) and isinstance(carrier.get("headers"), (list, tuple)):
        headers = carrier["headers"]  # ASGI message
    elif isinstance(carrier, list):
        headers = carrier  # WSGI start_response headers
    elif hasattr(carrier, "has_header") and hasattr(carrier, "headers"):
        headers = list(carrier.headers.items())  # Django HttpResponse
    elif isinstance(carrier, dict):
        headers = list(carrier.items())
    else:
        return None
    return [(_decode(item[0]).lower(), _decode(item[1])) for item in headers]


class BotanuResponsePropagator(ResponsePropagator):
    """Writes botanu's trace-id response headers (``traceresponse``, ``X-Trace-ID``, ...).

    ``inner`` is a response propagator the app had set before botanu's: it still runs
    first, and botanu adds only the headers it did not write.
    """

    def __init__(
        self, names: Sequence[str] = DEFAULT_HEADERS, inner: ResponsePropagator | None = None
    ) -> None:
        self.names = tuple(names)
        self.inner = inner

    def inject(
        self,
        carrier: CarrierT,
        context: Context | None = None,
        setter: Setter = response_propagators.default_setter,  # type: ignore[assignment]
    ) -> None:
        """Add the headers for the span in ``context`` (the server span) to the response ``carrier``."""
        if self.inner is not None:
            with _safety.contained("the app's response propagator"):
                self.inner.inject(carrier, context=context, setter=setter)
        try:
            span = trace.get_current_span(context)
            record_inbound_from_context(span, context)
            span_context = span.get_span_context()
            if not span_context.is_valid or not self.names:
                return
            present = existing_headers(carrier)
            have = {name for name, _ in present} if present is not None else set()
            added = []
            for name, value in header_values(span_context, self.names):
                if name.lower() not in have:
                    setter.set(carrier, name, value)
                    added.append(name)
            if added and present is not None:
                _expose(carrier, setter, present, added)
        except Exception:  # the response goes out either way, without the headers
            _safety.report_internal("adding trace response headers")


def _expose(carrier: Any, setter: Setter, present: list[tuple[str, str]], added: Iterable[str]) -> None:
    """Let cross-origin browser code read the headers, when the response is a CORS response.

    Only where the app already answers with ``Access-Control-Allow-Origin``: elsewhere
    ``Access-Control-Expose-Headers`` means nothing, and the app's CORS policy stays its own
    (botanu never allows an origin). Names the app already exposes (or ``*``) are not repeated.
    """
    if not any(name == _ALLOW_ORIGIN for name, _ in present):
        return
    exposed = {
        item.strip().lower() for name, value in present if name == _EXPOSE for item in value.split(",")
    }
    if "*" in exposed:
        return
    missing = [name for name in added if name.lower() not in exposed]
    if missing:
        setter.set(carrier, "Access-Control-Expose-Headers", ", ".join(missing))


# --------------------------------------------------------------------------- inbound X-Trace-ID


def note_inbound_trace_id(carrier: CarrierT, getter: Getter[Any], ctx: Context) -> Context:
    """Keep a caller's ``X-Trace-ID`` in ``ctx`` when it sent no usable ``traceparent``.

    Called while inbound context is extracted (botanu's baggage propagator), so the
    server span that starts from ``ctx`` can be given the id when its response starts
    (:class:`BotanuResponsePropagator`): that works for any instrumentation that extracts
    through the global propagator and calls the global response propagator.
    """
    try:
        if trace.get_current_span(ctx).get_span_context().is_valid:
            return ctx
        values = getter.get(carrier, INBOUND_TRACE_ID_HEADER.lower())
        trace_id = parse_trace_id(values[0]) if values else None
        if trace_id is None:
            return ctx
        return context_api.set_value(_INBOUND_KEY, trace_id, ctx)
    except Exception:
        _safety.report_internal("reading an inbound X-Trace-ID")
        return ctx


def record_inbound_trace_id(span: trace.Span, value: object) -> None:
    """Put a caller's ``X-Trace-ID`` on ``span`` (a server span) when the span has no remote parent."""
    trace_id = parse_trace_id(value)
    if trace_id is None or not span.is_recording():
        return
    parent = getattr(span, "parent", None)
    if parent is not None and parent.is_valid:
        return  # the caller sent a traceparent: that trace is the correlation
    span.set_attribute(INBOUND_TRACE_ID_ATTRIBUTE, trace_id)


def record_inbound_from_context(span: trace.Span, ctx: Context | None) -> None:
    """Give ``span`` the ``X-Trace-ID`` kept by :func:`note_inbound_trace_id`, if any."""
    # ASGI hands the propagator a fresh context holding only the span: the kept id is then in
    # the current context, which the request's code runs in.
    value = context_api.get_value(_INBOUND_KEY, ctx) if ctx is not None else None
    if value is None:
        value = context_api.get_value(_INBOUND_KEY)
    if value is not None:
        record_inbound_trace_id(span, value)


# --------------------------------------------------------------------------- installing


def configured_names(settings: Any = None) -> tuple[str, ...]:
    """The header names from ``settings``, else the active pipeline's, else the environment's."""
    if settings is None:
        from botanu import _pipeline

        settings = _pipeline.active_settings()
        if settings is None:
            from botanu._config import resolve_settings

            settings = resolve_settings({})
    return tuple(getattr(settings, "trace_response_headers", DEFAULT_HEADERS))


def install_response_propagator(settings: Any = None) -> BotanuResponsePropagator | None:
    """Make botanu's response propagator the global one (contrib's ``set_global_response_propagator``).

    Replaces contrib's ``TraceResponsePropagator`` (botanu's writes the same header and
    more) and an earlier botanu one; keeps any other propagator the app set, running it
    first. With no header names configured, botanu's own is removed.
    """
    current = response_propagators.get_global_response_propagator()
    inner = None
    if isinstance(current, BotanuResponsePropagator):
        inner = current.inner
    elif current is not None and not isinstance(current, TraceResponsePropagator):
        inner = current
    names = configured_names(settings)
    if not names:
        response_propagators.set_global_response_propagator(inner)
        return None
    propagator = BotanuResponsePropagator(names, inner)
    response_propagators.set_global_response_propagator(propagator)
    return propagator


def ensure_response_propagator() -> None:
    """Install botanu's response propagator unless one is already in place (middlewares call this)."""
    with _safety.contained("installing the response propagator"):
        if not isinstance(response_propagators.get_global_response_propagator(), BotanuResponsePropagator):
            install_response_propagator()


def inject_response_headers(carrier: Any, span: trace.Span, setter: Any = None) -> None:
    """Add the headers for ``span`` to ``carrier`` now, through the global (botanu's) propagator."""
    propagator = response_propagators.get_global_response_propagator()
    if not isinstance(propagator, BotanuResponsePropagator):
        propagator = BotanuResponsePropagator(configured_names())
    ctx = trace.set_span_in_context(span, Context())
    if setter is None:
        propagator.inject(carrier, context=ctx)
    else:
        propagator.inject(carrier, context=ctx, setter=setter)

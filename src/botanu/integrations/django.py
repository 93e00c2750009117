"""Django: ``"botanu.integrations.django.BotanuMiddleware"`` in ``MIDDLEWARE``.

::

    MIDDLEWARE = [
        "botanu.integrations.django.BotanuMiddleware",   # first, so it sees every response
        ...
    ]

One server span per request (install ``botanu[django]``): it continues an inbound
``traceparent`` through the global propagator (botanu's inbound baggage rules apply), follows
the HTTP semantic conventions with ``http.route`` the URL pattern (as contrib's Django
instrumentation writes it, e.g. ``orders/<int:oid>``), records a view's exception and marks
the span ERROR on a 5xx, and puts ``traceresponse`` / ``X-Trace-ID`` on every response, 500s
included. Under ``botanu run`` contrib's Django instrumentation inserts its own middleware
before this one and makes the span: this middleware then adds nothing but missing headers.

The span is written here rather than with contrib's Django middleware, whose set-up lives in
``DjangoInstrumentor`` (it edits ``settings.MIDDLEWARE``, too late once Django has loaded it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from opentelemetry import context as context_api
from opentelemetry import propagate, trace
from opentelemetry.propagators.textmap import Getter
from opentelemetry.trace import SpanKind, Status, StatusCode

from botanu import _safety
from botanu._version import __version__
from botanu.integrations import _common
from botanu.integrations._headers import (
    ensure_response_propagator,
    inject_response_headers,
    record_inbound_trace_id,
)
from botanu.integrations._request_run import Option, RequestRun, outcome_from_status
from botanu.integrations.wsgi import request_attributes

try:
    import django as _django  # noqa: F401  (only to say which extra is missing)
except ImportError as error:  # inert until used: BotanuMiddleware() names the extra
    _IMPORT_ERROR: ImportError | None = error
else:
    _IMPORT_ERROR = None

_STATE = "_botanu_server_span"  # the request's span and context token, on the request object


class _MetaGetter(Getter[dict[str, Any]]):
    """Reads HTTP headers from ``request.META`` (``traceparent`` is ``HTTP_TRACEPARENT``)."""

    def get(self, carrier: dict[str, Any], key: str) -> list[str] | None:
        value = carrier.get("HTTP_" + key.upper().replace("-", "_"))
        return [value] if isinstance(value, str) else None

    def keys(self, carrier: dict[str, Any]) -> list[str]:
        return [k[5:].lower().replace("_", "-") for k in carrier if k.startswith("HTTP_")]


_GETTER = _MetaGetter()


class _Setter:
    """Sets a header on a Django ``HttpResponse``."""

    def set(self, carrier: Any, key: str, value: str) -> None:
        carrier[key] = value


_SETTER = _Setter()


class BotanuMiddleware:
    """Django middleware: a server span per request, ``traceresponse`` and ``X-Trace-ID`` on its response.

    To make each request a botanu run inside the server span, subclass it with class
    attributes and list the subclass in ``MIDDLEWARE`` (a 5xx answer makes the outcome
    ``failure``)::

        class CheckoutMiddleware(BotanuMiddleware):
            workflow = "Checkout"
            event_id = staticmethod(lambda request: request.headers.get("X-Order-Id"))
            customer_id = staticmethod(lambda request: str(request.user.pk))
    """

    workflow: Option = None
    event_id: Option = None
    customer_id: Option = None

    def __init__(self, get_response: Callable[[Any], Any]) -> None:
        if _IMPORT_ERROR is not None:
            raise _common.missing_extra("django", "django", _IMPORT_ERROR)
        self.get_response = get_response
        self._run = RequestRun.create(self.workflow, self.event_id, self.customer_id)
        ensure_response_propagator()
        self._tracer = trace.get_tracer("botanu.integrations.django", __version__)

    def __call__(self, request: Any) -> Any:
        outer = _common.active_span()
        if outer is not None:
            # Contrib's Django middleware (botanu run) or another layer made this request's span.
            response = self._call_app(request)
            inject_response_headers(response, outer, _SETTER)
            return response
        span = self._start(request)
        if span is None:
            return self._call_app(request)
        try:
            response = self._call_app(request)
        except BaseException as exc:  # Django turns view errors into responses; this is the rest
            self._finish(request, span, None, exc)
            raise
        self._finish(request, span, response, None)
        return response

    def _call_app(self, request: Any) -> Any:
        """The rest of Django, inside a botanu run of its own when a workflow is configured."""
        run = self._run.open(request) if self._run is not None else None
        if run is None:
            return self.get_response(request)
        with run:
            response = self.get_response(request)
            status = getattr(response, "status_code", None)
            if isinstance(status, int):
                outcome_from_status(status)
            return response

    def _start(self, request: Any) -> trace.Span | None:
        try:
            meta = request.META
            parent = propagate.extract(meta, getter=_GETTER)
            attributes = {k: v for k, v in request_attributes(meta).items() if v is not None}
            span = self._tracer.start_span(
                _common.span_name(str(meta.get("REQUEST_METHOD", "")), None),
                context=parent,
                kind=SpanKind.SERVER,
                attributes=attributes,
            )
            record_inbound_trace_id(span, meta.get("HTTP_X_TRACE_ID"))
            token = context_api.attach(trace.set_span_in_context(span, parent))
            setattr(request, _STATE, (span, token))
            return span
        except Exception:
            _safety.report_internal("starting a Django request span")
            return None

    def process_view(self, request: Any, view_func: Any, view_args: Any, view_kwargs: Any) -> None:
        """Name the span by the matched URL pattern (known once Django has resolved the URL)."""
        try:
            state = getattr(request, _STATE, None)
            match = getattr(request, "resolver_match", None)
            route = getattr(match, "route", None)
            if state is None or not route:
                return
            span = state[0]
            if span.is_recording():
                span.set_attribute(_common.HTTP_ROUTE, route)
                span.update_name(_common.span_name(str(request.method), route))
        except Exception:
            _safety.report_internal("naming a Django request span")

    def process_exception(self, request: Any, exception: Exception) -> None:
        """Record a view's exception on the span; Django goes on to answer it (500)."""
        try:
            state = getattr(request, _STATE, None)
            if state is not None and state[0].is_recording():
                span = state[0]
                span.record_exception(exception)
                span.set_attribute(_common.ERROR_TYPE, type(exception).__qualname__)
                span.set_status(Status(StatusCode.ERROR, f"{type(exception).__name__}: {exception}"))
        except Exception:
            _safety.report_internal("recording a Django view's exception")

    def _finish(self, request: Any, span: trace.Span, response: Any, exc: BaseException | None) -> None:
        try:
            if response is not None:
                _common.set_response_status(span, int(response.status_code))
                inject_response_headers(response, span, _SETTER)
            if exc is not None and span.is_recording():
                span.record_exception(exc)
                span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
        except Exception:
            _safety.report_internal("finishing a Django request span")
        finally:
            state = getattr(request, _STATE, None)
            span.end()
            if state is not None:
                try:
                    context_api.detach(state[1])
                except Exception:
                    _safety.report_internal("detaching a Django request context")


__all__ = ["BotanuMiddleware"]

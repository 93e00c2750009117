"""The wrappers installed around ``httpx2``'s per-request send, sync and async.

Each wrapper sees one request (one hop of a redirect chain) and its outcome::

    decide whether to trace -> start the CLIENT span -> inject traceparent/baggage
    -> send with the span current and HTTP instrumentation suppressed below it
    -> end the span with the response status, or with the exception (re-raised unchanged)

The span ends when the response headers have arrived, before the body is read:
the same point as the contrib ``httpx`` instrumentation, and the only one that is
reached for streamed responses the app never closes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from opentelemetry import context, propagate, trace
from opentelemetry.instrumentation.utils import suppress_http_instrumentation
from opentelemetry.semconv.attributes.error_attributes import ERROR_TYPE
from opentelemetry.semconv.attributes.url_attributes import URL_FULL
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer

from .._guard import report_failure
from ..http_client._hooks import UrlFilter, _should_trace
from . import _attributes

Wrapped = Callable[..., Any]


class SendHooks:
    """wrapt wrappers for ``send(request)``-shaped methods, bound to one tracer.

    ``enabled`` turns both wrappers into plain pass-throughs; uninstrumenting sets
    it so that a wrapper which cannot be removed (another library wrapped the same
    method on top of it) stops tracing anyway.

    Requests to ``in_process`` transports (httpx2's ASGI and WSGI transports) are not
    traced: they call an app inside this process rather than the network, and that
    app's own outgoing calls must not run under our suppression.
    """

    def __init__(
        self, tracer: Tracer, url_filter: UrlFilter | None = None, in_process: tuple[type, ...] = ()
    ) -> None:
        self._tracer = tracer
        self._url_filter = url_filter
        self._in_process = in_process
        self.enabled = True

    # -- wrappers (signature fixed by wrapt) -------------------------------------------

    def send(self, wrapped: Wrapped, instance: Any, args: tuple, kwargs: dict) -> Any:
        span = self._start(instance, args, kwargs)
        if span is None:
            return wrapped(*args, **kwargs)
        try:
            with _current(span):
                response = wrapped(*args, **kwargs)
        except BaseException as exc:
            _finish(span, error=exc)
            raise
        _finish(span, response=response)
        return response

    async def send_async(
        self, wrapped: Callable[..., Awaitable[Any]], instance: Any, args: tuple, kwargs: dict
    ) -> Any:
        span = self._start(instance, args, kwargs)
        if span is None:
            return await wrapped(*args, **kwargs)
        try:
            with _current(span):
                response = await wrapped(*args, **kwargs)
        except BaseException as exc:  # CancelledError included: the request is over either way
            _finish(span, error=exc)
            raise
        _finish(span, response=response)
        return response

    # -- lifecycle ---------------------------------------------------------------------

    def _start(self, instance: Any, args: tuple, kwargs: dict) -> Span | None:
        """The span for this request with context injected, or None when it is not traced."""
        if not self.enabled:
            return None
        try:
            if not _should_trace():  # suppressed, or another HTTP client span is current
                return None
            request = args[0] if args else kwargs["request"]
            if self._in_process and isinstance(_transport(instance, request), self._in_process):
                return None
            attributes = _attributes.request_attributes(request)
            if self._url_filter is not None and self._url_filter.url_disabled(str(attributes[URL_FULL])):
                return None
            # The attributes go in at start: botanu's baggage rule reads the destination
            # from the span that is current while the headers are injected.
            span = self._tracer.start_span(
                _attributes.span_name(str(request.method)), kind=SpanKind.CLIENT, attributes=attributes
            )
        except Exception:
            report_failure("httpx2 span start")
            return None
        try:
            _inject(request, span)
        except Exception:  # the request is still traced, just not propagated
            report_failure("httpx2 context injection")
        return span


def _transport(instance: Any, request: Any) -> Any:
    """The transport that will carry ``request``: the client's choice for its URL, or ``instance`` itself."""
    choose = getattr(instance, "_transport_for_url", None)
    if choose is None:
        return instance
    try:
        return choose(request.url)
    except Exception:  # httpx2 will report its own problem with this URL when it sends
        return None


def _inject(request: Any, span: Span) -> None:
    """Write traceparent/baggage into the request's headers, replacing any already there.

    On a redirect httpx2 copies the previous hop's headers, ours included: replacing
    them makes each hop name its own span as parent and get its own baggage decision
    (identity entries are stripped for a host outside ``propagate_to``, even from a
    copied header when nothing else is left to send).
    """
    propagate.inject(request.headers, context=trace.set_span_in_context(span))


@contextlib.contextmanager
def _current(span: Span) -> Iterator[None]:
    """Our span current and HTTP instrumentation suppressed below it, while the request is sent."""
    try:
        token: object | None = context.attach(trace.set_span_in_context(span))
    except Exception:  # the call goes ahead, only without our span as its parent
        report_failure("httpx2 context")
        token = None
    try:
        with suppress_http_instrumentation():
            yield
    finally:
        if token is not None:
            context.detach(token)


def _finish(span: Span, response: Any = None, error: BaseException | None = None) -> None:
    """End the span with the response or the error; never raises."""
    try:
        try:
            if error is not None:
                kind = _attributes.error_type(error)
                span.record_exception(error)
                span.set_attribute(ERROR_TYPE, kind)
                span.set_status(Status(StatusCode.ERROR, kind))
            elif response is not None:
                attributes = _attributes.response_attributes(response)
                span.set_attributes(attributes)
                if ERROR_TYPE in attributes:
                    span.set_status(Status(StatusCode.ERROR))
        finally:
            span.end()
    except Exception:
        report_failure("httpx2 span end")

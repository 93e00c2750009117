"""The wrappers installed on ``http.client.HTTPConnection`` and the request lifecycle.

One request on a connection goes through these calls, whether the caller uses the
high-level ``request()`` (which makes them internally) or makes them itself::

    putrequest(method, url)   -> decide whether to trace; remember method and URL
    putheader(name, value)*   -> remember which headers the caller sends
    endheaders([body])        -> start the CLIENT span, add traceparent/baggage, send
    send(data)*               -> (optional body) remember a failure
    getresponse()             -> end the span with the status, or the exception

A request that is sent but never answered ends its span when the connection is
closed or the next request begins. The state of the request in flight is kept on
the connection itself, since a connection carries one request at a time.
"""

from __future__ import annotations

import contextlib
import http.client
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from opentelemetry import context, propagate, trace
from opentelemetry.instrumentation.utils import (
    is_http_instrumentation_enabled,
    suppress_http_instrumentation,
)
from opentelemetry.semconv.attributes.error_attributes import ERROR_TYPE
from opentelemetry.semconv.attributes.http_attributes import HTTP_REQUEST_METHOD
from opentelemetry.semconv.attributes.url_attributes import URL_FULL
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer

from .._guard import report_failure
from . import _attributes

# Name of the per-connection slot holding the request in flight.
_SLOT = "_botanu_http_request"
# The HTTP method attribute under current and pre-1.21 semconv; the contrib
# clients still emit the old one by default.
_HTTP_METHOD_KEYS = (HTTP_REQUEST_METHOD, "http.method")

Wrapped = Callable[..., Any]


class UrlFilter(Protocol):
    """Anything with ``url_disabled(url) -> bool``, e.g. ``opentelemetry.util.http.ExcludeList``."""

    def url_disabled(self, url: str) -> bool: ...


@dataclass(slots=True, eq=False)
class _Request:
    """One request in flight on one connection."""

    method: str
    attributes: _attributes.Attributes
    header_names: set[str] = field(default_factory=set)  # lower-cased, as sent by the caller
    span: Span | None = None
    # True inside our endheaders()/getresponse() wrappers: they own the outcome,
    # so the nested send()/close() calls http.client makes must not settle it.
    busy: bool = False
    send_error: BaseException | None = None


class ConnectionHooks:
    """wrapt wrappers for ``HTTPConnection`` methods, bound to one tracer.

    ``enabled`` turns every wrapper into a plain pass-through; uninstrumenting sets
    it so that a wrapper which cannot be removed (another library wrapped the same
    method on top of it) stops tracing anyway.
    """

    def __init__(self, tracer: Tracer, url_filter: UrlFilter | None = None) -> None:
        self._tracer = tracer
        self._url_filter = url_filter
        self.enabled = True

    # -- wrappers (signature fixed by wrapt) -------------------------------------------

    def putrequest(self, wrapped: Wrapped, conn: Any, args: tuple, kwargs: dict) -> Any:
        result = wrapped(*args, **kwargs)  # CannotSendRequest etc. propagate before any state change
        if self.enabled:
            try:
                self._begin(conn, *args, **kwargs)
            except Exception:
                _clear(conn)
                report_failure("http.client putrequest")
        return result

    def putheader(self, wrapped: Wrapped, conn: Any, args: tuple, kwargs: dict) -> Any:
        result = wrapped(*args, **kwargs)
        request = _request_of(conn)
        if request is not None and request.span is None:
            try:
                request.header_names.add(_header_name(*args, **kwargs))
            except Exception:
                report_failure("http.client putheader")
        return result

    def endheaders(self, wrapped: Wrapped, conn: Any, args: tuple, kwargs: dict) -> Any:
        request = _request_of(conn)
        if request is None or request.span is not None or not self.enabled:
            return wrapped(*args, **kwargs)
        span = self._start(conn, request)
        if span is None:
            return wrapped(*args, **kwargs)
        request.busy = True
        try:
            return _call_in_span(span, wrapped, args, kwargs)
        except BaseException as exc:
            # Connecting or sending failed: the request is over, there will be no response.
            _finish(conn, request, error=exc)
            raise
        finally:
            request.busy = False

    def send(self, wrapped: Wrapped, conn: Any, args: tuple, kwargs: dict) -> Any:
        try:
            return wrapped(*args, **kwargs)
        except BaseException as exc:
            # A body sent after endheaders() failed. Only remember it: the server may
            # still answer (urllib3 reads the response after a broken pipe), and if it
            # does not, close() reports this error.
            request = _request_of(conn)
            if request is not None and request.span is not None and not request.busy:
                request.send_error = exc
            raise

    def getresponse(self, wrapped: Wrapped, conn: Any, args: tuple, kwargs: dict) -> Any:
        request = _request_of(conn)
        if request is None or request.span is None:
            return wrapped(*args, **kwargs)
        request.busy = True
        try:
            response = _call_in_span(request.span, wrapped, args, kwargs)
        except http.client.ResponseNotReady:
            # An earlier response on this connection is still unread; the request is
            # still in flight and the caller will ask again.
            raise
        except BaseException as exc:
            _finish(conn, request, error=exc)
            raise
        finally:
            request.busy = False
        _finish(conn, request, response=response)
        return response

    def close(self, wrapped: Wrapped, conn: Any, args: tuple, kwargs: dict) -> Any:
        request = _request_of(conn)
        # http.client closes the connection itself inside getresponse(); that case
        # is settled by the getresponse wrapper.
        if request is not None and not request.busy:
            _finish(conn, request, error=request.send_error)
        return wrapped(*args, **kwargs)

    # -- lifecycle ---------------------------------------------------------------------

    def _begin(self, conn: Any, method: str, url: str, *_: Any, **__: Any) -> None:
        """A request line was written: settle the previous request, decide about this one."""
        previous = _request_of(conn)
        if previous is not None:
            # Sent but never answered, and the connection has moved on.
            _finish(conn, previous, error=previous.send_error)
        if not _should_trace():
            return
        attributes = _attributes.request_attributes(conn, method, url)
        if self._url_filter is not None and self._url_filter.url_disabled(str(attributes[URL_FULL])):
            return
        conn.__dict__[_SLOT] = _Request(method, attributes)

    def _start(self, conn: Any, request: _Request) -> Span | None:
        """Start the span and add the propagation headers; ``None`` if that failed."""
        try:
            span = self._tracer.start_span(
                _attributes.span_name(request.method),
                kind=SpanKind.CLIENT,
                attributes=request.attributes,
            )
        except Exception:
            _clear(conn)
            report_failure("http.client span start")
            return None
        request.span = span
        try:
            _inject_headers(conn, request, span)
        except Exception:  # the request is still traced, just not propagated
            report_failure("http.client context injection")
        return span


def _should_trace() -> bool:
    """False when another instrumentation already represents this HTTP call."""
    # requests, urllib3 and urllib suppress HTTP instrumentation below their own
    # span; exporters suppress all instrumentation while they send.
    if not is_http_instrumentation_enabled():
        return False
    # Fallback for a client that makes an HTTP CLIENT span without suppressing
    # (older contrib releases, hand-written wrappers): its span is current here.
    return not _is_http_client_span(trace.get_current_span())


def _is_http_client_span(span: Span) -> bool:
    if getattr(span, "kind", None) is not SpanKind.CLIENT:
        return False
    attributes = getattr(span, "attributes", None)
    return bool(attributes) and any(key in attributes for key in _HTTP_METHOD_KEYS)


def _inject_headers(conn: Any, request: _Request, span: Span) -> None:
    """Send traceparent/baggage as real header lines, unless the caller already set them."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier, context=trace.set_span_in_context(span))
    for name, value in carrier.items():
        if name.lower() not in request.header_names:
            # Through conn.putheader so subclasses (urllib3) see it like any header.
            conn.putheader(name, value)


def _call_in_span(span: Span, wrapped: Wrapped, args: tuple, kwargs: dict) -> Any:
    """Run ``wrapped`` with our span current and HTTP instrumentation suppressed below it."""
    try:
        token: object | None = context.attach(trace.set_span_in_context(span))
    except Exception:  # the call goes ahead, only without our span as its parent
        report_failure("http.client context")
        token = None
    try:
        with suppress_http_instrumentation():
            return wrapped(*args, **kwargs)
    finally:
        if token is not None:
            context.detach(token)


def _finish(conn: Any, request: _Request, response: Any = None, error: BaseException | None = None) -> None:
    """End the request's span (once) with the response or the error; never raises."""
    try:
        if _request_of(conn) is request:
            _clear(conn)
        span, request.span = request.span, None
        if span is None:
            return
        try:
            if response is not None:
                _record_response(span, response)
            elif error is not None:
                _record_error(span, error)
        finally:
            span.end()
    except Exception:
        report_failure("http.client span end")


def _record_response(span: Span, response: Any) -> None:
    status = int(response.status)
    span.set_attributes(_attributes.response_attributes(status, getattr(response, "version", None)))
    if _attributes.is_error_status(status):
        span.set_status(Status(StatusCode.ERROR))


def _record_error(span: Span, error: BaseException) -> None:
    kind = _attributes.error_type(error)
    span.record_exception(error)
    span.set_attribute(ERROR_TYPE, kind)
    span.set_status(Status(StatusCode.ERROR, kind))


def _request_of(conn: Any) -> _Request | None:
    try:
        return conn.__dict__.get(_SLOT)
    except Exception:  # a connection class without __dict__ is simply not traced
        return None


def _clear(conn: Any) -> None:
    with contextlib.suppress(Exception):
        conn.__dict__.pop(_SLOT, None)


def _header_name(header: str | bytes, *_: Any, **__: Any) -> str:
    name = header.decode("latin-1") if isinstance(header, bytes) else str(header)
    return name.lower()

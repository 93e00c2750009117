"""WSGI middleware: one server span per request and the trace id back to the caller.

::

    from botanu.integrations.wsgi import BotanuMiddleware
    application = BotanuMiddleware(application)      # any WSGI app

Built on contrib's ``opentelemetry-instrumentation-wsgi`` (install ``botanu[wsgi]``), which
unlike the ASGI, Flask and Django instrumentations never calls the response propagator: the
headers are added here, from its response hook. When a span is already active for the
request, no second one is started and only the headers are made sure of. For Flask use
:func:`botanu.integrations.flask.init_botanu`, which also names the span by its route.

A WSGI app that raises instead of answering leaves the 500 to the server, which sends it
without the headers (frameworks such as Flask and Django answer their own 500s, with them).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from opentelemetry import trace

from botanu import _safety
from botanu.integrations import _common
from botanu.integrations._headers import (
    ensure_response_propagator,
    inject_response_headers,
    record_inbound_trace_id,
)
from botanu.integrations._request_run import Option, RequestRun, outcome_from_status

try:
    from opentelemetry.instrumentation.wsgi import OpenTelemetryMiddleware as _ContribMiddleware
except ImportError as error:  # inert until used: BotanuMiddleware() names the extra
    _ContribMiddleware = None  # type: ignore[assignment,misc]
    _IMPORT_ERROR: ImportError | None = error
else:
    _IMPORT_ERROR = None

Environ = dict[str, Any]
StartResponse = Callable[..., Any]
WSGIApp = Callable[[Environ, StartResponse], Iterable[bytes]]


class _HeaderSetter:
    """Appends a header to a WSGI ``start_response`` header list."""

    def set(self, carrier: list[tuple[str, str]], key: str, value: str) -> None:
        carrier.append((key, value))


SETTER = _HeaderSetter()


def request_attributes(environ: Mapping[str, Any]) -> dict[str, Any]:
    """Stable-semconv request attributes from a WSGI environ (or Django's ``request.META``)."""
    protocol = str(environ.get("SERVER_PROTOCOL", ""))
    return {
        **_common.method_attributes(str(environ.get("REQUEST_METHOD", ""))),
        _common.URL_PATH: f"{environ.get('SCRIPT_NAME', '')}{environ.get('PATH_INFO', '')}" or "/",
        _common.URL_SCHEME: environ.get("wsgi.url_scheme"),
        _common.CLIENT_ADDRESS: environ.get("REMOTE_ADDR") or None,
        _common.USER_AGENT: environ.get("HTTP_USER_AGENT"),
        _common.NETWORK_PROTOCOL_VERSION: protocol.partition("/")[2] or None,
    }


def on_request(span: trace.Span, environ: Mapping[str, Any]) -> None:
    """Request hook: stable-semconv attributes and a caller's X-Trace-ID on the new server span."""
    try:
        _common.add_stable_attributes(span, request_attributes(environ))
        record_inbound_trace_id(span, environ.get("HTTP_X_TRACE_ID"))
    except Exception:
        _safety.report_internal("describing a WSGI request")


def on_response(span: trace.Span, status: str) -> None:
    """``http.response.status_code`` from a WSGI status line (``"404 Not Found"``)."""
    try:
        code = str(status).split(" ", 1)[0]
        if code.isdigit():
            _common.set_response_status(span, int(code))
    except Exception:
        _safety.report_internal("describing a WSGI response")


def _response_hook(span: trace.Span, environ: Environ, status: str, headers: list[tuple[str, str]]) -> None:
    on_response(span, status)
    inject_response_headers(headers, span, SETTER)


def _span_name_hook(span: trace.Span, environ: Environ) -> None:
    # A generic WSGI app has no route: the span is named by the method alone, never the raw path.
    on_request(span, environ)
    if span.is_recording():
        span.update_name(_common.span_name(str(environ.get("REQUEST_METHOD", "")), None))


class BotanuMiddleware:
    """WSGI middleware: a server span per request, ``traceresponse`` and ``X-Trace-ID`` on its response.

    ``workflow``, ``event_id``, ``customer_id`` (strings, or callables of the WSGI environ)
    make each request a botanu run inside the server span; a 5xx answer makes its outcome
    ``failure``.
    """

    def __init__(
        self,
        wsgi_app: WSGIApp,
        *,
        workflow: Option = None,
        event_id: Option = None,
        customer_id: Option = None,
    ) -> None:
        if _ContribMiddleware is None:
            raise _common.missing_extra("wsgi", "wsgi", _IMPORT_ERROR)
        self.wsgi = wsgi_app
        self._run = RequestRun.create(workflow, event_id, customer_id)
        ensure_response_propagator()
        self._traced: Any = None
        try:
            self._traced = _ContribMiddleware(
                self._call_app, request_hook=_span_name_hook, response_hook=_response_hook
            )
        except Exception:  # requests still get served, untraced
            _safety.report_internal("setting up the WSGI middleware")

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        if self._traced is None:
            return self.wsgi(environ, start_response)
        outer = _common.active_span()
        if outer is None:
            return self._traced(environ, start_response)
        # Another instrumentation already made this request's span: only the headers.
        return self._call_app(environ, _adding_headers(start_response, outer))

    def _call_app(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        """The app, inside a botanu run of its own when the middleware was given a workflow."""
        run = self._run.open(environ) if self._run is not None else None
        if run is None:
            return self.wsgi(environ, start_response)
        inside = True

        def start_with_outcome(status: str, headers: list[tuple[str, str]], *args: Any) -> Any:
            code = str(status).split(" ", 1)[0]
            if inside and code.isdigit():  # a streamed body may start after the run ended
                outcome_from_status(int(code))
            return start_response(status, headers, *args)

        with run:
            try:
                return self.wsgi(environ, start_with_outcome)
            finally:
                inside = False


def _adding_headers(start_response: StartResponse, span: trace.Span) -> StartResponse:
    def start_with_headers(status: str, headers: list[tuple[str, str]], *args: Any) -> Any:
        inject_response_headers(headers, span, SETTER)
        return start_response(status, headers, *args)

    return start_with_headers


__all__ = ["BotanuMiddleware"]

"""ASGI middleware: one server span per request and the trace id back to the caller.

::

    from botanu.integrations.asgi import BotanuMiddleware
    app = BotanuMiddleware(app)               # any ASGI app
    app.add_middleware(BotanuMiddleware)      # Starlette / FastAPI

Built on contrib's ``opentelemetry-instrumentation-asgi`` (install ``botanu[asgi]``): the span
continues an inbound ``traceparent`` (botanu's inbound baggage rules apply through the global
propagator), follows the HTTP semantic conventions (``http.request.method``, ``url.path``,
``http.route`` as the template, ``http.response.status_code``), records the exception and is
marked ERROR when the app fails. When a span is already active for the request (contrib's
FastAPI/Starlette instrumentation under ``botanu run``, say), no second span is started and
only the response headers are made sure of.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from opentelemetry import trace

from botanu import _safety
from botanu.integrations import _common
from botanu.integrations._headers import (
    INBOUND_TRACE_ID_HEADER,
    ensure_response_propagator,
    inject_response_headers,
    record_inbound_trace_id,
)
from botanu.integrations._request_run import Option, RequestRun, outcome_from_status

try:
    from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware as _ContribMiddleware
except ImportError as error:  # inert until used: BotanuMiddleware() names the extra
    _ContribMiddleware = None  # type: ignore[assignment,misc]
    _IMPORT_ERROR: ImportError | None = error
else:
    _IMPORT_ERROR = None

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_INTERNAL_ERROR_BODY = b"Internal Server Error"
# The request's server span (when this middleware made it), kept in the ASGI scope.
_SPAN_KEY = "botanu.server_span"


class _HeaderSetter:
    """Appends a header to an ASGI ``http.response.start`` message."""

    def set(self, carrier: Message, key: str, value: str) -> None:
        headers = list(carrier.get("headers") or ())
        headers.append((key.lower().encode("latin-1"), value.encode("latin-1")))
        carrier["headers"] = headers


_SETTER = _HeaderSetter()


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers") or ():
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def _request_of(scope: Scope) -> Any:
    """What the run options' callables receive: Starlette's ``Request``, or the scope itself."""
    try:
        from starlette.requests import Request
    except ImportError:
        return scope
    return Request(scope)


def _route_template(scope: Scope) -> str | None:
    """The matched route's template (Starlette puts the route in the scope), e.g. ``/users/{user_id}``."""
    route = scope.get("route")
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    if not isinstance(template, str) or not template:
        return None
    return f"{scope.get('root_path', '')}{template}"


def _span_details(scope: Scope) -> tuple[str, dict[str, Any]]:
    # The route is known only once the app has routed the request: the name starts as the
    # method (never the raw path, which has unbounded cardinality) and gains the route then.
    return _common.span_name(str(scope.get("method", "")), None), {}


def _on_request(span: trace.Span, scope: Scope) -> None:
    """Stable-semconv request attributes and a caller's X-Trace-ID on the new server span."""
    try:
        client = scope.get("client")
        _common.add_stable_attributes(
            span,
            {
                **_common.method_attributes(str(scope.get("method", ""))),
                _common.URL_PATH: scope.get("path"),
                _common.URL_SCHEME: scope.get("scheme"),
                _common.NETWORK_PROTOCOL_VERSION: scope.get("http_version"),
                _common.CLIENT_ADDRESS: client[0] if client else None,
                _common.USER_AGENT: _header(scope, b"user-agent"),
            },
        )
        record_inbound_trace_id(span, _header(scope, INBOUND_TRACE_ID_HEADER.lower().encode()))
    except Exception:
        _safety.report_internal("describing an ASGI request")


def _on_response_start(span: trace.Span, scope: Scope, message: Message) -> None:
    try:
        status = message.get("status")
        if isinstance(status, int):
            _common.set_response_status(span, status)
        route = _route_template(scope)
        if route and span.is_recording():
            span.set_attribute(_common.HTTP_ROUTE, route)
            span.update_name(_common.span_name(str(scope.get("method", "")), route))
    except Exception:
        _safety.report_internal("describing an ASGI response")


class BotanuMiddleware:
    """ASGI middleware: a server span per HTTP request, ``traceresponse`` and ``X-Trace-ID`` on its response.

    ``excluded_urls`` (a comma-separated list of regular expressions, as contrib's
    ``OTEL_PYTHON_EXCLUDED_URLS``) names requests that get no span (health checks).
    ``workflow``, ``event_id``, ``customer_id`` (strings, or callables of Starlette's
    ``Request``, or of the ASGI scope without Starlette) make each request a botanu run
    inside the server span; a 5xx answer makes its outcome ``failure``.
    """

    _extra = "asgi"

    def __init__(
        self,
        app: ASGIApp,
        *,
        excluded_urls: str | None = None,
        workflow: Option = None,
        event_id: Option = None,
        customer_id: Option = None,
    ) -> None:
        if _ContribMiddleware is None:
            raise _common.missing_extra(self.__module__.rsplit(".", 1)[-1], self._extra, _IMPORT_ERROR)
        self.app = app
        self._run = RequestRun.create(workflow, event_id, customer_id)
        ensure_response_propagator()
        self._error_answering: dict[int, bool] = {}
        self._traced: Any = None
        try:
            self._traced = _ContribMiddleware(
                self._inside_span,
                excluded_urls=excluded_urls,
                default_span_details=_span_details,
                server_request_hook=_on_request,
                # One span per request: no extra spans for each ASGI receive/send message.
                exclude_spans=["receive", "send"],
            )
        except Exception:  # requests still get served, untraced
            _safety.report_internal("setting up the ASGI middleware")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") != "http" or self._traced is None:
            await self.app(scope, receive, send)
            return
        outer = _common.active_span()
        if outer is None:
            await self._own_span(scope, receive, send)
            return
        # Another instrumentation (FastAPI's own telemetry, contrib's FastAPI/Starlette one under
        # botanu run) already made this request's span: no second one, only the headers if it
        # did not add them. FastAPI's own telemetry reports an unhandled exception as a log
        # record only: the exception event goes on its span here, as contrib's spans have it.
        record_on = outer if scope.get("fastapi.telemetry") is not None else None
        started = False

        async def watched_send(message: Message) -> None:
            nonlocal started
            if message.get("type") == "http.response.start":
                started = True
                inject_response_headers(message, outer, _SETTER)
            await send(message)

        try:
            await self._call_app(scope, receive, watched_send)
        except Exception as exc:
            if record_on is not None and record_on.is_recording():
                with contextlib.suppress(Exception):
                    record_on.record_exception(exc)
            if not started and self._may_answer_errors(scope):
                await _error_response(scope, receive, watched_send, exc)
            raise

    async def _own_span(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The request in a server span of its own (contrib's middleware; its send adds the headers)."""
        started = False

        async def watched_send(message: Message) -> None:
            nonlocal started
            if message.get("type") == "http.response.start":
                started = True
            await send(message)

        try:
            await self._traced(scope, receive, watched_send)
        except Exception as exc:
            # contrib's middleware recorded the exception and ended the span; the answer to it
            # is sent here, outside the span, so that recording came first.
            span = scope.get(_SPAN_KEY)
            if not started and isinstance(span, trace.Span) and self._may_answer_errors(scope):
                await _error_response(scope, receive, self._adding_headers(send, span), exc)
            raise

    async def _call_app(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The app, inside a botanu run of its own when the middleware was given a workflow."""
        run = self._run.open(_request_of(scope)) if self._run is not None else None
        if run is None:
            await self.app(scope, receive, send)
            return

        async def send_with_outcome(message: Message) -> None:
            if message.get("type") == "http.response.start" and isinstance(message.get("status"), int):
                outcome_from_status(message["status"])
            await send(message)

        async with run:
            await self.app(scope, receive, send_with_outcome)

    @staticmethod
    def _adding_headers(send: Send, span: trace.Span) -> Send:
        async def send_with_headers(message: Message) -> None:
            if message.get("type") == "http.response.start":
                inject_response_headers(message, span, _SETTER)
            await send(message)

        return send_with_headers

    async def _inside_span(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The app, run inside contrib's server span."""
        span = trace.get_current_span()
        scope[_SPAN_KEY] = span
        started = False

        async def watched_send(message: Message) -> None:
            nonlocal started
            if message.get("type") == "http.response.start":
                started = True
                _on_response_start(span, scope, message)
            await send(message)

        try:
            await self._call_app(scope, receive, watched_send)
        except Exception:
            if not started:  # the answer will be a 500 (sent once the span has recorded the error)
                _on_response_start(span, scope, {"status": 500})
            raise

    def _may_answer_errors(self, scope: Scope) -> bool:
        """Whether to answer an unhandled error here (else a layer outside sends the 500).

        Only when the framework's own layers alone sit outside this middleware: a middleware
        of the app's own there may turn the error into its own response, and answering first
        would take that away from it (add BotanuMiddleware last, outermost, so 500s carry the
        headers). Not when contrib's ASGI middleware is outside: its 500 carries them already.
        """
        try:
            return self._check_layers(scope)
        except Exception:  # then the layer outside answers, as it would without botanu
            _safety.report_internal("checking the layers outside the ASGI middleware")
            return False

    def _check_layers(self, scope: Scope) -> bool:
        app = scope.get("app")
        stack = getattr(app, "middleware_stack", None)
        if stack is None:
            return True  # a plain ASGI app wrapped in BotanuMiddleware: only the server is outside
        key = id(stack)
        known = self._error_answering.get(key)
        if known is None:
            layers = _layers_before(stack, self)
            known = layers is not None and not any(_is_contrib_asgi(layer) for layer in layers)
            self._error_answering[key] = known
            if layers is None:
                _safety.warn_once(
                    ("asgi middleware order", key),
                    "botanu: a middleware of the app runs outside BotanuMiddleware, so responses to "
                    "unhandled errors carry no traceresponse / X-Trace-ID; add BotanuMiddleware last",
                    level=logging.INFO,
                )
        return known


_FRAMEWORK_MODULES = ("starlette.", "fastapi.", "opentelemetry.", "botanu.")


def _is_contrib_asgi(layer: object) -> bool:
    return _ContribMiddleware is not None and isinstance(layer, _ContribMiddleware)


def _layers_before(stack: Any, target: object) -> list[object] | None:
    """The layers from ``stack`` down to ``target`` if all are Starlette's, FastAPI's or OTel's, else None."""
    layers: list[object] = []
    layer = stack
    while layer is not None and len(layers) < 64:
        if layer is target:
            return layers
        if not type(layer).__module__.startswith(_FRAMEWORK_MODULES):
            return None
        layers.append(layer)
        layer = getattr(layer, "app", None)
    return None


async def _error_response(scope: Scope, receive: Receive, send: Send, exc: Exception) -> None:
    """Send the 500 the app's framework would send for ``exc``; the caller re-raises ``exc``."""
    try:
        await _render_error(scope, receive, send, exc)
    except Exception:  # the error is re-raised by the caller either way; the server answers then
        _safety.report_internal("answering an unhandled error")


async def _render_error(scope: Scope, receive: Receive, send: Send, exc: Exception) -> None:
    app = scope.get("app")
    try:
        from starlette.applications import Starlette
        from starlette.middleware.errors import ServerErrorMiddleware
    except ImportError:
        Starlette = None  # type: ignore[assignment,misc]
    if Starlette is not None and isinstance(app, Starlette):
        # Starlette's outermost ServerErrorMiddleware would render it with the app's 500 (or
        # Exception) handler: the same class renders it here, through the headers-adding send.
        handler = None
        for key, value in app.exception_handlers.items():
            if key in (500, Exception):
                handler = value

        async def reraise(scope: Scope, receive: Receive, send: Send) -> None:
            raise exc

        renderer = ServerErrorMiddleware(reraise, handler=handler, debug=app.debug)
        with contextlib.suppress(Exception):  # it re-raises what it rendered
            await renderer(scope, receive, send)
        return
    await send(
        {
            "type": "http.response.start",
            "status": 500,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(_INTERNAL_ERROR_BODY)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": _INTERNAL_ERROR_BODY})


__all__ = ["BotanuMiddleware"]

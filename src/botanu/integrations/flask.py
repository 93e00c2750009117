"""Flask: ``init_botanu(app)``.

::

    from flask import Flask
    from botanu.integrations.flask import init_botanu

    app = Flask(__name__)
    init_botanu(app)

Instruments the app with contrib's Flask instrumentation (install ``botanu[flask]``): one
server span per request named ``GET /orders/<oid>`` with ``http.route`` the URL rule, the
inbound ``traceparent`` continued, an unhandled exception recorded and the span marked ERROR,
and ``traceresponse`` / ``X-Trace-ID`` on every response, 500s included (through botanu's
response propagator, which contrib's Flask instrumentation calls). Under ``botanu run`` every
Flask app is instrumented already: ``init_botanu`` then adds nothing, so there is one span.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry import trace

from botanu import _safety
from botanu.integrations import _common
from botanu.integrations._headers import ensure_response_propagator

try:
    import flask as _flask  # noqa: F401  (only to say which extra is missing)
    from opentelemetry.instrumentation.flask import FlaskInstrumentor as _FlaskInstrumentor

    from botanu.integrations import wsgi as _wsgi
except ImportError as error:  # inert until used: init_botanu() names the extra
    _FlaskInstrumentor = None  # type: ignore[assignment,misc]
    _IMPORT_ERROR: ImportError | None = error
else:
    _IMPORT_ERROR = None


def _on_request(span: trace.Span, environ: Mapping[str, Any]) -> None:
    _wsgi.on_request(span, environ)


def _on_response(span: trace.Span | None, status: str, headers: list[tuple[str, str]]) -> None:
    if span is not None:
        _wsgi.on_response(span, status)


def init_botanu(app: Any, *, excluded_urls: str | None = None) -> Any:
    """Trace ``app``'s requests (one server span each) and return the trace id on every response.

    ``excluded_urls`` (comma-separated regular expressions, as contrib's
    ``OTEL_PYTHON_FLASK_EXCLUDED_URLS``) names requests that get no span. Returns ``app``.
    """
    if _FlaskInstrumentor is None:
        raise _common.missing_extra("flask", "flask", _IMPORT_ERROR)
    ensure_response_propagator()
    with _safety.contained("instrumenting the Flask app"):
        if getattr(app, "_is_instrumented_by_opentelemetry", False):
            # botanu run / opentelemetry-instrument (or the app itself) instrumented it already:
            # a second instrumentation would give a second span for each request.
            return app
        _FlaskInstrumentor.instrument_app(
            app, request_hook=_on_request, response_hook=_on_response, excluded_urls=excluded_urls
        )
    return app


__all__ = ["init_botanu"]

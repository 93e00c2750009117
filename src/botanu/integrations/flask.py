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

import sys
from collections.abc import Mapping
from typing import Any

from opentelemetry import trace

from botanu import _safety
from botanu.integrations import _common
from botanu.integrations._headers import ensure_response_propagator
from botanu.integrations._request_run import Option, RequestRun, outcome_from_status

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


def init_botanu(
    app: Any,
    *,
    excluded_urls: str | None = None,
    workflow: Option = None,
    event_id: Option = None,
    customer_id: Option = None,
) -> Any:
    """Trace ``app``'s requests (one server span each) and return the trace id on every response.

    ``excluded_urls`` (comma-separated regular expressions, as contrib's
    ``OTEL_PYTHON_FLASK_EXCLUDED_URLS``) names requests that get no span. ``workflow``,
    ``event_id``, ``customer_id`` (strings, or callables of ``flask.request``) make each
    request a botanu run inside the server span; a 5xx answer makes its outcome ``failure``.
    Returns ``app``.
    """
    if _FlaskInstrumentor is None:
        raise _common.missing_extra("flask", "flask", _IMPORT_ERROR)
    ensure_response_propagator()
    with _safety.contained("instrumenting the Flask app"):
        # Under botanu run / opentelemetry-instrument (or the app's own set-up) the app is
        # instrumented already: a second instrumentation would give a second span per request.
        if not getattr(app, "_is_instrumented_by_opentelemetry", False):
            _FlaskInstrumentor.instrument_app(
                app, request_hook=_on_request, response_hook=_on_response, excluded_urls=excluded_urls
            )
    run = RequestRun.create(workflow, event_id, customer_id)
    if run is not None:
        with _safety.contained("adding request runs to the Flask app"):
            _add_runs(app, run)
    return app


_RUN_KEY = "botanu.request_run"


def _add_runs(app: Any, run: RequestRun) -> None:
    """Open the run after contrib's span starts (its before_request came first) and end it in after_request.

    It ends before the response starts, so the response headers (written with the span current
    then) name the server span, not the run.
    """
    import flask

    def open_run() -> None:
        with _safety.contained("opening a Flask request's run"):
            scope = run.open(flask.request)
            if scope is not None:
                scope.__enter__()
                flask.request.environ[_RUN_KEY] = scope

    def close_run(response: Any) -> Any:
        scope = flask.request.environ.pop(_RUN_KEY, None)
        if scope is not None:
            outcome_from_status(int(response.status_code))
            # For an unhandled exception Flask builds the 500 (and calls this) while handling it.
            _, error, traceback = sys.exc_info()
            scope.__exit__(type(error) if error else None, error, traceback)
        return response

    def close_left_open(error: BaseException | None) -> None:
        scope = flask.request.environ.pop(_RUN_KEY, None)
        if scope is not None:  # after_request did not run (another after_request raised)
            scope.__exit__(type(error) if error else None, error, getattr(error, "__traceback__", None))

    app.before_request(open_run)
    app.after_request(close_run)
    app.teardown_request(close_left_open)


__all__ = ["init_botanu"]

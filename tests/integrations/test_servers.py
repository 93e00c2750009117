"""Web framework integrations on real servers: FastAPI/uvicorn, Flask dev server and gunicorn, Django, WSGI.

Each set-up is a real server process on 127.0.0.1 exporting to a loopback OTLP receiver, driven by a
real HTTP client (requests). "code" set-ups call ``botanu.init()`` and use botanu's integration;
"run" set-ups are started with ``botanu run`` (contrib's instrumentation makes the server span),
with botanu's integration in the app as well ("+mw": still one server span) or not at all (zero
code: the headers must come from botanu's response propagator alone). One server per set-up.
"""

from __future__ import annotations

import collections
import contextlib
import os
import re
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.support.otlp_receiver import OTLPReceiver, ReceivedSpan
from tests.zero_code._support import BIN, clean_env
from tests.zero_code.test_app_servers import ServerProcess

APPS = Path(__file__).resolve().parent / "_apps"
PYTHON = str(BIN / "python")
TRACERESPONSE_RE = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")

UVICORN = r"Uvicorn running on http://127\.0\.0\.1:(\d+)"
GUNICORN = r"Listening at: http://127\.0\.0\.1:(\d+)"
WSGIREF = r"READY (\d+)"


def gunicorn(app: str) -> list[str]:
    return ["gunicorn", "--workers=1", "--bind=127.0.0.1:0", f"--chdir={APPS}", app]


@dataclass(frozen=True)
class Setup:
    name: str
    command: list[str]
    ready: str
    botanu_run: bool
    middleware: bool
    route: str | None  # the expected http.route of GET /users/7
    raises: bool = True  # /boom raises in the handler (the plain WSGI app answers 500 itself)

    @property
    def in_code(self) -> bool:
        return not self.botanu_run


SETUPS = [
    Setup("fastapi-code-uvicorn", [PYTHON, "fastapi_app.py"], UVICORN, False, True, "/users/{user_id}"),
    Setup(
        "fastapi-run-uvicorn+mw",
        ["uvicorn", "--host=127.0.0.1", "--port=0", f"--app-dir={APPS}", "fastapi_app:app"],
        UVICORN,
        True,
        True,
        "/users/{user_id}",
    ),
    Setup(
        "fastapi-run-uvicorn",
        ["uvicorn", "--host=127.0.0.1", "--port=0", f"--app-dir={APPS}", "fastapi_app:app"],
        UVICORN,
        True,
        False,
        "/users/{user_id}",
    ),
    Setup("starlette-code-uvicorn", [PYTHON, "starlette_app.py"], UVICORN, False, True, "/users/{user_id}"),
    Setup("flask-code-devserver", [PYTHON, "flask_app.py"], WSGIREF, False, True, "/users/<int:user_id>"),
    Setup("flask-code-gunicorn", gunicorn("flask_app:app"), GUNICORN, False, True, "/users/<int:user_id>"),
    Setup("flask-run-gunicorn+mw", gunicorn("flask_app:app"), GUNICORN, True, True, "/users/<int:user_id>"),
    Setup("flask-run-devserver", [PYTHON, "flask_app.py"], WSGIREF, True, False, "/users/<int:user_id>"),
    Setup(
        "django-code-gunicorn",
        gunicorn("django_wsgi:application"),
        GUNICORN,
        False,
        True,
        "users/<int:user_id>",
    ),
    Setup(
        "django-run-gunicorn+mw",
        gunicorn("django_wsgi:application"),
        GUNICORN,
        True,
        True,
        "users/<int:user_id>",
    ),
    Setup("django-run-wsgiref", [PYTHON, "django_wsgi.py"], WSGIREF, True, False, "users/<int:user_id>"),
    Setup("wsgi-code-wsgiref", [PYTHON, "wsgi_app.py"], WSGIREF, False, True, None, raises=False),
]


@dataclass
class Running:
    setup: Setup
    base: str
    receiver: OTLPReceiver
    server: ServerProcess

    def get(self, path: str, **headers: str) -> requests.Response:
        return requests.get(self.base + path, headers=headers, timeout=10)

    def server_spans(self, trace_id: str, settle: float = 0.0) -> list[ReceivedSpan]:
        """The SERVER spans of ``trace_id``, once the first has arrived (then ``settle`` s more)."""

        def found(receiver: OTLPReceiver) -> bool:
            return any(s.trace_id == trace_id and s.kind == "SERVER" for s in receiver.spans())

        assert self.receiver.wait_for(found, timeout=10), self.server.output
        time.sleep(settle)
        return [s for s in self.receiver.spans() if s.trace_id == trace_id and s.kind == "SERVER"]

    def server_span(self, trace_id: str) -> ReceivedSpan:
        (span,) = self.server_spans(trace_id)
        return span


@contextlib.contextmanager
def serve(setup: Setup, tmp: Path, **extra_env: str) -> Iterator[Running]:
    """``setup``'s server on a free port, exporting to a receiver of its own, until the block ends."""
    receiver = OTLPReceiver()
    home = tmp / "home"
    home.mkdir()
    env = clean_env(
        HOME=str(home),
        XDG_CACHE_HOME=str(home / ".cache"),
        BOTANU_SPOOL_DIR=str(tmp / "spool"),
        BOTANU_ENDPOINT=receiver.endpoint,
        OTEL_BSP_SCHEDULE_DELAY="100",
        PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        PYTHONUNBUFFERED="1",
        PYTHONPATH=str(APPS),
        # As Django deployments do: contrib's Django instrumentation reads the settings at start-up.
        DJANGO_SETTINGS_MODULE="django_app",
        APP_IN_CODE="1" if setup.in_code else "0",
        APP_MIDDLEWARE="1" if setup.middleware else "0",
    )
    env.update(extra_env)
    server = ServerProcess(setup.command, env, APPS, botanu_run=setup.botanu_run)
    try:
        port = int(server.wait_for(setup.ready, timeout=30)[0].group(1))
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 15
        while True:  # gunicorn prints its address before its worker serves
            try:
                requests.get(base + "/warm-up", timeout=20)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, server.output
                time.sleep(0.1)
        yield Running(setup, base, receiver, server)
    finally:
        server.kill()
        receiver.close()


@pytest.fixture(scope="module", params=SETUPS, ids=[s.name for s in SETUPS])
def running(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    setup: Setup = request.param
    with serve(setup, tmp_path_factory.mktemp(setup.name)) as server:
        yield server


def trace_headers(response: requests.Response) -> tuple[str, str, str]:
    """(trace id, span id, flags) from ``traceresponse``, checked against ``X-Trace-ID``."""
    match = TRACERESPONSE_RE.fullmatch(response.headers.get("traceresponse", ""))
    assert match, dict(response.headers)
    trace_id, span_id, flags = match.groups()
    assert response.headers.get("X-Trace-ID") == trace_id
    # Each header exactly once, even where a middleware and an instrumentation both offer it.
    raw = response.raw.headers
    assert len(raw.getlist("traceresponse")) == 1 and len(raw.getlist("x-trace-id")) == 1, raw
    return trace_id, span_id, flags


def status_code(span: ReceivedSpan) -> int:
    return span.attributes.get("http.response.status_code", span.attributes.get("http.status_code"))


def test_ok_response_carries_the_server_span_and_the_handler_sees_it(running: Running) -> None:
    response = running.get("/users/7")
    assert response.status_code == 200
    trace_id, span_id, flags = trace_headers(response)
    assert flags in ("01", "03")
    # Exactly one server span for the request, with or without botanu run, middleware or not.
    (server,) = running.server_spans(trace_id, settle=0.3)
    assert server.span_id == span_id
    assert status_code(server) == 200
    assert server.status_code != "ERROR"
    if running.setup.route:
        assert server.attributes["http.route"] == running.setup.route
        assert running.setup.route in server.name
    if running.setup.in_code:
        # botanu's own integrations write the stable HTTP semantic conventions.
        assert server.attributes["http.request.method"] == "GET"
        assert server.attributes["url.path"] == "/users/7"
        assert server.attributes["http.response.status_code"] == 200
    # What the handler sees as current (and so what a log record in it is tied to): the server
    # span, or a span inside it (FastAPI's own endpoint spans).
    body = response.json()
    assert body["trace_id"] == trace_id
    spans = {s.span_id: s for s in running.receiver.spans() if s.trace_id == trace_id}
    deadline = time.monotonic() + 5
    while body["span_id"] not in spans and time.monotonic() < deadline:
        time.sleep(0.1)
        spans = {s.span_id: s for s in running.receiver.spans() if s.trace_id == trace_id}
    seen = spans[body["span_id"]]
    while seen.span_id != server.span_id:
        seen = spans[seen.parent_span_id]
    # The handler's log record ("handling user 7") is tied to the request: its trace, and the span
    # the handler saw as current.
    running.receiver.wait_for(lambda r: any(log.trace_id == trace_id for log in r.logs()), timeout=10)
    (record,) = [log for log in running.receiver.logs() if log.trace_id == trace_id]
    assert record.body == "handling user 7"
    assert record.span_id == body["span_id"]
    assert record.severity_text == "WARN"


def test_not_found_carries_the_headers(running: Running) -> None:
    response = running.get("/no/such/page")
    assert response.status_code == 404
    trace_id, span_id, _ = trace_headers(response)
    server = running.server_span(trace_id)
    assert server.span_id == span_id
    assert status_code(server) == 404
    assert server.status_code != "ERROR"  # a 4xx is the caller's error, not the server's


def test_server_error_carries_the_headers_and_the_span_records_it(running: Running) -> None:
    response = running.get("/boom")
    assert response.status_code == 500
    trace_id, span_id, _ = trace_headers(response)
    server = running.server_span(trace_id)
    assert server.span_id == span_id
    assert server.status_code == "ERROR"
    if running.setup.raises:
        spans = [s for s in running.receiver.spans() if s.trace_id == trace_id]
        messages = [attrs.get("exception.message", "") for s in spans for name, attrs in s.events]
        assert any("boom in handler" in message for message in messages), [s.events for s in spans]
        if running.setup.in_code:
            exceptions = [attrs for name, attrs in server.events if name == "exception"]
            assert exceptions or server.attributes.get("error.type"), server


def test_inbound_traceparent_is_continued(running: Running) -> None:
    caller_trace, caller_span = secrets.token_hex(16), secrets.token_hex(8)
    response = running.get("/users/8", traceparent=f"00-{caller_trace}-{caller_span}-01")
    trace_id, span_id, flags = trace_headers(response)
    assert trace_id == caller_trace and flags == "01"
    (server,) = running.server_spans(caller_trace)
    assert server.span_id == span_id and server.parent_span_id == caller_span


def test_inbound_x_trace_id_without_traceparent_is_recorded(running: Running) -> None:
    legacy = secrets.token_hex(16)
    response = running.get("/users/9", **{"X-Trace-ID": legacy})
    trace_id, _, _ = trace_headers(response)
    assert trace_id != legacy  # a caller does not choose the service's trace id
    server = running.server_span(trace_id)
    assert server.attributes["botanu.inbound_trace_id"] == legacy
    # With a traceparent the caller's trace is the correlation: X-Trace-ID is not recorded.
    caller_trace = secrets.token_hex(16)
    running.get(
        "/users/10", traceparent=f"00-{caller_trace}-{secrets.token_hex(8)}-01", **{"X-Trace-ID": legacy}
    )
    assert "botanu.inbound_trace_id" not in running.server_span(caller_trace).attributes


def test_inbound_botanu_baggage_is_not_trusted(running: Running) -> None:
    caller_trace = secrets.token_hex(16)
    response = running.get(
        "/users/11",
        traceparent=f"00-{caller_trace}-{secrets.token_hex(8)}-01",
        baggage="botanu.customer_id=forged,botanu.run_id=forged-run,app.key=kept",
    )
    assert response.status_code == 200
    server = running.server_span(caller_trace)
    assert "botanu.customer_id" not in server.attributes
    assert "botanu.run_id" not in server.attributes


def test_with_a_workflow_each_request_is_a_botanu_run_inside_the_server_span(running: Running) -> None:
    if not running.setup.middleware:
        pytest.skip("zero code alone: no run options")
    ok = running.get("/users/13", **{"X-Order-Id": "order-13", "X-Customer-Id": "cus-13"})
    failed = running.get("/boom", **{"X-Order-Id": "order-14", "X-Customer-Id": "cus-14"})
    for response, outcome in ((ok, "success"), (failed, "failure")):
        trace_id, span_id, _ = trace_headers(response)
        server = running.server_span(trace_id)

        def run_arrived(receiver: OTLPReceiver, trace_id: str = trace_id) -> bool:
            return any(s.trace_id == trace_id and s.name.startswith("botanu.run/") for s in receiver.spans())

        assert running.receiver.wait_for(run_arrived, timeout=10)
        spans = running.receiver.spans()
        (run,) = [s for s in spans if s.trace_id == trace_id and s.name.startswith("botanu.run/")]
        assert run.name == "botanu.run/UserLookup"
        assert run.kind == "INTERNAL" and run.parent_span_id == server.span_id == span_id
        assert run.attributes["botanu.event_id"] == response.request.headers["X-Order-Id"]
        assert run.attributes["botanu.customer_id"] == response.request.headers["X-Customer-Id"]
        assert run.attributes["botanu.outcome.status"] == outcome


def test_each_request_one_server_span(running: Running) -> None:
    """Across every request so far: no trace holds two SERVER spans."""
    running.get("/users/12")
    time.sleep(0.5)
    per_trace = collections.Counter(s.trace_id for s in running.receiver.spans() if s.kind == "SERVER")
    assert per_trace and max(per_trace.values()) == 1, per_trace


SETUP_BY_NAME = {s.name: s for s in SETUPS}


@pytest.mark.parametrize(
    ("setup_name", "setting", "expected"),
    [
        ("fastapi-run-uvicorn", "X-Correlation-ID", ["x-correlation-id"]),
        ("flask-code-devserver", "", []),
    ],
    ids=["zero-code-renamed", "in-code-off"],
)
def test_trace_response_headers_setting(
    tmp_path: Path, setup_name: str, setting: str, expected: list[str]
) -> None:
    """``BOTANU_TRACE_RESPONSE_HEADERS`` renames the headers (the id alone) or, empty, turns them off."""
    with serve(SETUP_BY_NAME[setup_name], tmp_path, BOTANU_TRACE_RESPONSE_HEADERS=setting) as running:
        response = running.get("/users/5")
        assert response.status_code == 200
        names = [name.lower() for name in response.headers]
        assert "traceresponse" not in names and "x-trace-id" not in names
        assert [name for name in names if name in expected] == expected
        for name in expected:
            assert response.headers[name] == response.json()["trace_id"]

"""httpx2 (what openai 3.x and anthropic 2.x are built on) traced with no code, end to end.

Real apps in child processes under each launcher, real httpx2 clients calling a loopback
server, spans decoded from what the exporter really sent to the loopback OTLP receiver.
The contrib httpx package publishes an ``httpx2`` instrumentor too; under
opentelemetry-instrument both load and only botanu's span may come out.
"""

from __future__ import annotations

import json
import socket
import textwrap
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.zero_code._support import BIN, RecordingServer, baggage_entries, clean_env, run

pytest.importorskip("httpx2")

SCOPE = "botanu_instrumentation.httpx2"
SECRET = "sk-live-abcdefghijklmnopqrstuvwx"

APP = textwrap.dedent(
    """
    import asyncio, sys
    import httpx2
    import botanu

    port, refused = int(sys.argv[1]), int(sys.argv[2])
    if sys.argv[3:] == ["init"]:
        botanu.init(service_name="httpx2-app")
    base = f"http://127.0.0.1:{port}"

    async def async_call():
        async with httpx2.AsyncClient() as client:
            await client.get(f"{base}/httpx2-async")

    with botanu.event(event_id="ord-1", customer_id="cus-9", workflow="Httpx2", tenant_id="acme"):
        with botanu.step("calls"):
            httpx2.get(f"{base}/httpx2?api_key=SECRET&page=2")
            asyncio.run(async_call())
            try:
                httpx2.get(f"http://127.0.0.1:{refused}/down")
            except httpx2.ConnectError:
                print("refused as expected")
    print("app done")
    """
).replace("SECRET", SECRET)
CALLS = ("/httpx2", "/httpx2-async")


@pytest.fixture
def downstream():
    server = RecordingServer()
    yield server
    server.close()


def _refused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _launch(launcher: str, tmp_path, env: dict[str, str], *app_args: str):
    app = tmp_path / "app.py"
    app.write_text(APP)
    python_app = [str(BIN / "python"), str(app), *app_args]
    if launcher == "opentelemetry-instrument":
        env.setdefault("OTEL_PYTHON_DISTRO", "botanu")
        args = [str(BIN / "opentelemetry-instrument"), *python_app]
    elif launcher == "botanu run":
        args = [str(BIN / "botanu"), "run", "--", *python_app]
    else:  # botanu.init() in the app
        args = [*python_app, "init"]
    result = run(args, env, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "refused as expected" in result.stdout and "app done" in result.stdout
    assert "Traceback" not in result.stderr, result.stderr
    return result


def _spans_after_run(receiver):
    # The run span ends last: once it is in, every client span of the app is too.
    assert receiver.wait_for(lambda r: any(s.name == "botanu.run/Httpx2" for s in r.spans()))
    return receiver.spans()


LAUNCHERS = pytest.mark.parametrize(
    "launcher", ["opentelemetry-instrument", "botanu run", "botanu.init()", "stock distro"]
)


@LAUNCHERS
def test_httpx2_calls_give_one_botanu_span_each(launcher, tmp_path, otlp_receiver, downstream):
    env = clean_env(BOTANU_ENDPOINT=otlp_receiver.endpoint)
    if launcher == "stock distro":
        # opentelemetry-instrument with the stock distro and botanu's configurator: every installed
        # instrumentor loads, the contrib httpx2 one included, whatever botanu's settings say.
        env.update(OTEL_PYTHON_DISTRO="distro", OTEL_PYTHON_CONFIGURATOR="botanu")
        launcher = "opentelemetry-instrument"
    refused = _refused_port()
    _launch(launcher, tmp_path, env, str(downstream.port), str(refused))
    spans = _spans_after_run(otlp_receiver)

    run_span = next(s for s in spans if s.name == "botanu.run/Httpx2")
    clients = [s for s in spans if s.kind == "CLIENT"]
    assert sorted(s.scope for s in clients) == [SCOPE] * 3, [(s.scope, s.attributes) for s in clients]
    by_path = {s.attributes["url.full"].split("?")[0].rsplit("/", 1)[1]: s for s in clients}
    assert sorted(by_path) == ["down", "httpx2", "httpx2-async"]
    for path in CALLS:
        span = by_path[path.lstrip("/")]
        assert span.name == "GET"
        assert span.attributes["http.request.method"] == "GET"
        assert span.attributes["server.address"] == "127.0.0.1"
        assert span.attributes["server.port"] == downstream.port
        assert span.attributes["http.response.status_code"] == 200
        assert span.status_code == "UNSET"
        # Sent with the span as parent, in the run's trace; baggage by botanu's rules.
        headers = downstream.headers_for(path)
        assert headers["traceparent"].split("-")[1:3] == [span.trace_id, span.span_id]
        entries = baggage_entries(headers.get("baggage"))
        assert entries["botanu.run_id"] == run_span.attributes["botanu.run_id"]
        assert entries["botanu.step"] == "calls"
        assert not {"botanu.customer_id", "botanu.tenant_id", "botanu.event_id"} & set(entries), entries
    for span in clients:
        assert span.trace_id == run_span.trace_id
        assert span.attributes["botanu.run_id"] == run_span.attributes["botanu.run_id"]
        assert span.attributes["botanu.customer_id"] == "cus-9"  # on the span, never in the header
    down = by_path["down"]
    assert down.status_code == "ERROR"
    assert down.attributes["error.type"] == "httpx2.ConnectError"
    assert down.attributes["server.port"] == refused
    assert [name for name, _ in down.events] == ["exception"]
    # The URL went through redaction: the secret query value is gone, its name stays.
    url = by_path["httpx2"].attributes["url.full"]
    assert "api_key=" in url and "page=2" in url and SECRET not in url
    assert all(SECRET.encode() not in body for body in otlp_receiver.raw_bodies())


@pytest.mark.parametrize("launcher", ["botanu run", "botanu.init()"])
def test_identity_baggage_reaches_allowed_hosts(launcher, tmp_path, otlp_receiver, downstream):
    env = clean_env(BOTANU_ENDPOINT=otlp_receiver.endpoint, BOTANU_PROPAGATE_TO="127.0.0.1")
    _launch(launcher, tmp_path, env, str(downstream.port), str(_refused_port()))
    for path in CALLS:
        entries = baggage_entries(downstream.headers_for(path).get("baggage"))
        assert entries["botanu.customer_id"] == "cus-9", path
        assert entries["botanu.tenant_id"] == "acme"


@pytest.mark.parametrize(
    ("launcher", "variable"),
    [
        ("opentelemetry-instrument", "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS"),
        ("botanu run", "BOTANU_DISABLED_INSTRUMENTATIONS"),
        ("botanu.init()", "BOTANU_DISABLED_INSTRUMENTATIONS"),
    ],
)
def test_one_name_turns_httpx2_tracing_off(launcher, variable, tmp_path, otlp_receiver, downstream):
    """`httpx2` names botanu's instrumentor and the contrib one alike: neither traces."""
    env = clean_env(BOTANU_ENDPOINT=otlp_receiver.endpoint, **{variable: "httpx2"})
    _launch(launcher, tmp_path, env, str(downstream.port), str(_refused_port()))
    spans = _spans_after_run(otlp_receiver)
    assert [s for s in spans if s.kind == "CLIENT"] == []
    assert "traceparent" not in downstream.headers_for("/httpx2")


@pytest.mark.parametrize("launcher", ["opentelemetry-instrument", "botanu.init()"])
def test_inert_without_httpx2(launcher, tmp_path, otlp_receiver, downstream):
    """httpx2 missing: the app runs, nothing is logged about it above debug, other clients still trace."""
    # A venv without httpx2 has none of the libraries that require it either.
    for name in ("httpx2", "openai", "anthropic", "genai_prices"):
        shadow = tmp_path / "shadow" / name
        shadow.mkdir(parents=True)
        (shadow / "__init__.py").write_text(
            f"raise ModuleNotFoundError({'No module named ' + repr(name)!r}, name={name!r})\n"
        )
    app = tmp_path / "app.py"
    app.write_text(
        textwrap.dedent(
            """
            import sys, urllib.request
            import botanu
            if sys.argv[2:] == ["init"]:
                botanu.init()
            try:
                import httpx2
            except ModuleNotFoundError:
                print("no httpx2")
            with botanu.event(event_id="e", customer_id="c", workflow="Httpx2"):
                urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/urllib").read()
            print("app done")
            """
        )
    )
    env = clean_env(BOTANU_ENDPOINT=otlp_receiver.endpoint, PYTHONPATH=str(tmp_path / "shadow"))
    if launcher == "opentelemetry-instrument":
        env["OTEL_PYTHON_DISTRO"] = "botanu"
        args = [str(BIN / "opentelemetry-instrument"), str(BIN / "python"), str(app), str(downstream.port)]
    else:
        args = [str(BIN / "python"), str(app), str(downstream.port), "init"]
    result = run(args, env, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "no httpx2" in result.stdout and "app done" in result.stdout
    # Nothing from botanu's httpx2 instrumentor (other instrumentors answer for themselves).
    ours = ("failed in httpx2", "botanu_instrumentation/httpx2", "instrumentation httpx2")
    assert not [line for line in result.stderr.splitlines() if any(mark in line for mark in ours)], (
        result.stderr
    )
    spans = _spans_after_run(otlp_receiver)
    assert [s.scope for s in spans if s.kind == "CLIENT"] == ["opentelemetry.instrumentation.urllib"]


# -- the reason for it: an openai 3.x client, built on httpx2 -----------------------------------------


class _OpenAICompatible:
    """A loopback server answering the OpenAI models endpoint; records request headers."""

    def __init__(self) -> None:
        self.headers: list[dict[str, str]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                owner.headers.append({k.lower(): v for k, v in self.headers.items()})
                body = json.dumps(
                    {
                        "object": "list",
                        "data": [{"id": "m-1", "object": "model", "created": 0, "owned_by": "test"}],
                    }
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True).start()

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


OPENAI_APP = textwrap.dedent(
    """
    import sys
    import botanu
    import openai

    client = openai.OpenAI(base_url=f"http://127.0.0.1:{sys.argv[1]}/v1", api_key="SECRET", max_retries=0)
    with botanu.event(event_id="e", customer_id="cus-9", workflow="Llm"):
        print([model.id for model in client.models.list()])
    print("app done")
    """
).replace("SECRET", SECRET)


def test_openai_client_calls_are_traced_with_no_code(tmp_path, otlp_receiver):
    openai = pytest.importorskip("openai")
    if not openai.__version__.startswith("3."):
        pytest.skip("openai 3.x is the release built on httpx2")
    server = _OpenAICompatible()
    try:
        app = tmp_path / "app.py"
        app.write_text(OPENAI_APP)
        env = clean_env(BOTANU_ENDPOINT=otlp_receiver.endpoint)
        args = [str(BIN / "botanu"), "run", "--", str(BIN / "python"), str(app), str(server.port)]
        result = run(args, env, tmp_path)
    finally:
        server.close()
    assert result.returncode == 0, result.stderr
    assert "['m-1']" in result.stdout and "Traceback" not in result.stderr
    assert otlp_receiver.wait_for(lambda r: any(s.name == "botanu.run/Llm" for s in r.spans()))
    spans = otlp_receiver.spans()
    run_span = next(s for s in spans if s.name == "botanu.run/Llm")
    # One HTTP client span (an LLM instrumentation may add its own gen_ai span around it).
    http_keys = {"http.request.method", "http.method"}
    [client] = [s for s in spans if s.kind == "CLIENT" and http_keys & set(s.attributes)]
    assert client.scope == SCOPE
    assert client.attributes["url.full"] == f"http://127.0.0.1:{server.port}/v1/models"
    assert client.attributes["http.response.status_code"] == 200
    assert client.trace_id == run_span.trace_id
    [headers] = server.headers
    assert headers["traceparent"].split("-")[2] == client.span_id
    assert "botanu.customer_id" not in baggage_entries(headers.get("baggage"))
    assert headers["authorization"] == f"Bearer {SECRET}"  # the vendor gets its key ...
    assert all(SECRET.encode() not in body for body in otlp_receiver.raw_bodies())  # ... the collector not


@pytest.mark.parametrize("botanu_first", [True, False], ids=["botanu-found-first", "contrib-found-first"])
def test_botanu_init_and_doctor_pick_botanus_httpx2_whatever_the_order(monkeypatch, botanu_first):
    """Two installed instrumentors are named httpx2; botanu.init() and botanu doctor use botanu's."""
    from importlib.metadata import entry_points

    from botanu import _instrumentation

    found = [e for e in entry_points(group="opentelemetry_instrumentor") if e.name == "httpx2"]
    assert {e.dist.name for e in found} == {"botanu", "opentelemetry-instrumentation-httpx"}
    ordered = sorted(found, key=lambda e: e.dist.name == "botanu", reverse=botanu_first)
    monkeypatch.setattr(_instrumentation, "entry_points", lambda group: ordered)

    chosen = _instrumentation._entry_points()["httpx2"]
    assert chosen.value == "botanu_instrumentation.httpx2:HTTPX2Instrumentor"
    assert "httpx2" in _instrumentation.DEFAULT_INSTRUMENTATIONS


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_host_port_rule_applies_per_destination(mode, clean_botanu):
    """propagate_to=127.0.0.1:<port>: identity goes to that server only, read from botanu's httpx2 span."""
    import asyncio

    import httpx2
    from opentelemetry import baggage, context, propagate
    from opentelemetry.sdk.trace import TracerProvider

    from botanu._config import resolve_settings
    from botanu.propagation import install
    from botanu_instrumentation.httpx2 import HTTPX2Instrumentor

    allowed, other = RecordingServer(), RecordingServer()
    previous = propagate.get_global_textmap()
    instrumentor = HTTPX2Instrumentor()
    instrumentor.instrument(tracer_provider=TracerProvider())
    ctx = baggage.set_baggage("botanu.customer_id", "cus-9", baggage.set_baggage("botanu.run_id", "r-1"))
    token = context.attach(ctx)
    try:
        install(resolve_settings({"propagate_to": [f"127.0.0.1:{allowed.port}"]}, {}))
        urls = [f"http://127.0.0.1:{server.port}/call" for server in (allowed, other)]
        if mode == "sync":
            with httpx2.Client(timeout=5) as client:
                for url in urls:
                    client.get(url)
        else:

            async def calls() -> None:
                async with httpx2.AsyncClient(timeout=5) as client:
                    for url in urls:
                        await client.get(url)

            asyncio.run(calls())
    finally:
        context.detach(token)
        instrumentor.uninstrument()
        propagate.set_global_textmap(previous)
        allowed.close()
        other.close()
    assert baggage_entries(allowed.headers_for("/call")["baggage"]) == {
        "botanu.run_id": "r-1",
        "botanu.customer_id": "cus-9",
    }
    assert baggage_entries(other.headers_for("/call")["baggage"]) == {"botanu.run_id": "r-1"}

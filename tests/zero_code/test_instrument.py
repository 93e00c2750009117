"""opentelemetry-instrument and `botanu run` with real clients, servers and collector on loopback."""

from __future__ import annotations

import textwrap

import pytest

from tests.zero_code._support import BIN, RecordingServer, baggage_entries, clean_env, run

CLIENT_APP = textwrap.dedent(
    """
    import asyncio, http.client, sys, urllib.request
    import aiohttp, httpx, requests, urllib3
    import botanu

    port = int(sys.argv[1])
    base = f"http://127.0.0.1:{port}"

    async def async_calls():
        async with httpx.AsyncClient() as client:
            await client.get(f"{base}/httpx-async")
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{base}/aiohttp") as response:
                await response.read()

    with botanu.event(event_id="ord-1", customer_id="cus-9", workflow="ZeroCode", tenant_id="acme"):
        with botanu.step("calls"):
            requests.get(f"{base}/requests?api_key=sk-live-abcdefghijklmnopqrstuvwx&page=2")
            httpx.get(f"{base}/httpx")
            urllib3.PoolManager().request("GET", f"{base}/urllib3")
            urllib.request.urlopen(f"{base}/urllib").read()
            connection = http.client.HTTPConnection("127.0.0.1", port)
            connection.request("GET", "/http-client")
            connection.getresponse().read()
            asyncio.run(async_calls())
    print("app done")
    """
)
CALLS = ("/requests", "/httpx", "/urllib3", "/urllib", "/http-client", "/httpx-async", "/aiohttp")


@pytest.fixture
def downstream():
    server = RecordingServer()
    yield server
    server.close()


def _check_one_client_span_per_call(spans, port):
    run_span = next(s for s in spans if s.name == "botanu.run/ZeroCode")
    clients = [s for s in spans if s.kind == "CLIENT"]
    urls = sorted(s.attributes.get("url.full") or s.attributes.get("http.url") for s in clients)
    assert len(clients) == len(CALLS), urls
    for path in CALLS:
        assert sum(1 for u in urls if u.split(str(port), 1)[1].split("?")[0] == path) == 1, (path, urls)
    for span in clients:
        assert span.trace_id == run_span.trace_id
        assert span.attributes["botanu.run_id"] == run_span.attributes["botanu.run_id"]
        assert span.attributes["botanu.step"] == "calls"
        assert span.attributes["botanu.customer_id"] == "cus-9"
    return run_span, clients


@pytest.mark.parametrize("launcher", ["opentelemetry-instrument", "botanu run"])
def test_zero_code_http_clients(launcher, tmp_path, otlp_receiver, downstream):
    app = tmp_path / "app.py"
    app.write_text(CLIENT_APP)
    if launcher == "opentelemetry-instrument":
        env = clean_env(
            OTEL_PYTHON_DISTRO="botanu",
            OTEL_PYTHON_CONFIGURATOR="botanu",
            BOTANU_ENDPOINT=otlp_receiver.endpoint,
        )
        args = [str(BIN / "opentelemetry-instrument"), str(BIN / "python"), str(app), str(downstream.port)]
    else:
        env = clean_env()
        args = [
            str(BIN / "botanu"),
            "run",
            "--endpoint",
            otlp_receiver.endpoint,
            "--",
            str(BIN / "python"),
            str(app),
            str(downstream.port),
        ]
    result = run(args, env, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "app done" in result.stdout
    assert "Traceback" not in result.stderr
    spans = otlp_receiver.wait_for_spans(len(CALLS) + 2)
    run_span, _ = _check_one_client_span_per_call(spans, downstream.port)
    trace_id = run_span.trace_id
    for path in CALLS:
        headers = downstream.headers_for(path)
        assert headers["traceparent"].split("-")[1] == trace_id
        entries = baggage_entries(headers.get("baggage"))
        assert entries["botanu.run_id"] == run_span.attributes["botanu.run_id"]
        assert entries["botanu.step"] == "calls"
        # Business identity does not leave for hosts outside propagate_to.
        assert not {"botanu.customer_id", "botanu.tenant_id", "botanu.event_id"} & set(entries), (
            path,
            entries,
        )
    # URLs on HTTP spans go through redaction: the secret query value is gone, its name stays.
    requests_span = next(s for s in spans if s.scope == "opentelemetry.instrumentation.requests")
    url = requests_span.attributes.get("url.full") or requests_span.attributes.get("http.url")
    assert "api_key=" in url and "page=2" in url
    assert "sk-live-abcdefghijklmnopqrstuvwx" not in url
    assert all(b"sk-live-abcdefghijklmnopqrstuvwx" not in body for body in otlp_receiver.raw_bodies())
    resource = run_span.resource
    assert resource["telemetry.distro.name"] == "botanu"
    # Exported with gzip protobuf, once per span.
    assert all(r.headers.get("content-encoding") == "gzip" for r in otlp_receiver.requests)
    assert len({s.span_id for s in spans}) == len(spans)


def test_identity_baggage_reaches_allowed_hosts(tmp_path, otlp_receiver, downstream):
    app = tmp_path / "app.py"
    app.write_text(CLIENT_APP)
    env = clean_env(BOTANU_ENDPOINT=otlp_receiver.endpoint, BOTANU_PROPAGATE_TO="127.0.0.1")
    args = [str(BIN / "botanu"), "run", "--", str(BIN / "python"), str(app), str(downstream.port)]
    result = run(args, env, tmp_path)
    assert result.returncode == 0, result.stderr
    for path in CALLS:
        entries = baggage_entries(downstream.headers_for(path).get("baggage"))
        assert entries["botanu.customer_id"] == "cus-9", path
        assert entries["botanu.tenant_id"] == "acme"


def test_disabled_instrumentations_honoured(tmp_path, otlp_receiver, downstream):
    app = tmp_path / "app.py"
    app.write_text(CLIENT_APP)
    env = clean_env(
        OTEL_PYTHON_DISTRO="botanu",
        OTEL_PYTHON_CONFIGURATOR="botanu",
        BOTANU_ENDPOINT=otlp_receiver.endpoint,
        OTEL_PYTHON_DISABLED_INSTRUMENTATIONS="requests,httpx",
    )
    args = [str(BIN / "opentelemetry-instrument"), str(BIN / "python"), str(app), str(downstream.port)]
    result = run(args, env, tmp_path)
    assert result.returncode == 0, result.stderr
    spans = otlp_receiver.wait_for_spans(6)
    scopes = {s.scope for s in spans if s.kind == "CLIENT"}
    assert "opentelemetry.instrumentation.requests" not in scopes
    assert "opentelemetry.instrumentation.httpx" not in scopes
    # With requests' own instrumentation off, its call is still seen once, lower down (urllib3).
    assert "opentelemetry.instrumentation.urllib3" in scopes


def test_init_in_app_under_instrument_is_one_pipeline(tmp_path, otlp_receiver):
    app = tmp_path / "app.py"
    app.write_text(
        textwrap.dedent(
            """
        import logging
        logging.basicConfig(level=logging.INFO)
        import botanu
        botanu.init(service_name="in-app")
        with botanu.event(event_id="e", customer_id="c", workflow="Once"):
            pass
        """
        )
    )
    env = clean_env(
        OTEL_PYTHON_DISTRO="botanu", OTEL_PYTHON_CONFIGURATOR="botanu", BOTANU_ENDPOINT=otlp_receiver.endpoint
    )
    result = run([str(BIN / "opentelemetry-instrument"), str(BIN / "python"), str(app)], env, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "already set up by opentelemetry-instrument" in result.stderr
    spans = otlp_receiver.wait_for_spans(1)
    assert [s.name for s in spans] == ["botanu.run/Once"]
    otlp_receiver.wait_for(lambda r: len(r.spans()) > 1, timeout=0.5)
    assert len(otlp_receiver.spans()) == 1, "exported once"


def test_both_distros_installed_selection(tmp_path, otlp_receiver):
    """With the stock opentelemetry-distro installed too, OTEL_PYTHON_DISTRO/CONFIGURATOR pick botanu."""
    from importlib.metadata import entry_points

    assert {"distro", "botanu"} <= {e.name for e in entry_points(group="opentelemetry_distro")}
    app = tmp_path / "app.py"
    app.write_text(
        "import botanu\nwith botanu.event(event_id='e', customer_id='c', workflow='Pick'):\n    pass\n"
    )
    env = clean_env(
        OTEL_PYTHON_DISTRO="botanu", OTEL_PYTHON_CONFIGURATOR="botanu", BOTANU_ENDPOINT=otlp_receiver.endpoint
    )
    result = run([str(BIN / "opentelemetry-instrument"), str(BIN / "python"), str(app)], env, tmp_path)
    assert result.returncode == 0, result.stderr
    span = otlp_receiver.wait_for_spans(1)[0]
    assert span.resource["telemetry.distro.name"] == "botanu"
    assert otlp_receiver.requests[0].headers.get("content-encoding") == "gzip"


RUN_APP = textwrap.dedent(
    """
    import sys, requests, botanu
    with botanu.event(event_id="e", customer_id="cus-9", workflow="Exporters"):
        requests.get(f"http://127.0.0.1:{sys.argv[1]}/call")
    print("app done")
    """
)


@pytest.mark.parametrize(
    ("variables", "warning", "exported"),
    [
        (
            {"OTEL_TRACES_EXPORTER": "none"},
            "OTEL_TRACES_EXPORTER=none: no spans are recorded or exported",
            False,
        ),
        ({"OTEL_TRACES_EXPORTER": "console"}, "OTEL_TRACES_EXPORTER=console prints each trace", True),
        ({"OTEL_TRACES_EXPORTER": "zipkin,otlp"}, "OTEL_TRACES_EXPORTER value zipkin ignored", True),
        ({"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, "OTEL_EXPORTER_OTLP_PROTOCOL=grpc ignored", True),
        ({"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/json"}, "PROTOCOL=http/json ignored", True),
        ({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}, None, True),
    ],
    ids=["none", "console", "zipkin", "grpc", "http-json", "otlp"],
)
def test_exporter_variables(variables, warning, exported, tmp_path, otlp_receiver, downstream):
    """OTEL_TRACES_EXPORTER and the OTLP protocol: honoured where botanu can, one warning where it cannot."""
    app = tmp_path / "app.py"
    app.write_text(RUN_APP)
    env = clean_env(BOTANU_ENDPOINT=otlp_receiver.endpoint, **variables)
    args = [str(BIN / "botanu"), "run", "--", str(BIN / "python"), str(app), str(downstream.port)]
    result = run(args, env, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "app done" in result.stdout and "Traceback" not in result.stderr
    botanu_lines = [line for line in result.stderr.splitlines() if line.startswith("botanu:")]
    if warning is None:
        assert botanu_lines == [], botanu_lines
    else:
        assert len(botanu_lines) == 1 and warning in botanu_lines[0], botanu_lines
    # The process has exited, so whatever it was going to export has arrived.
    names = sorted(s.name for s in otlp_receiver.spans())
    if exported:
        assert names == ["GET", "botanu.run/Exporters"], names
        assert all(r.headers.get("content-encoding") == "gzip" for r in otlp_receiver.requests)
    else:
        assert otlp_receiver.requests == []
    # The baggage rules hold either way: the run id goes out, the customer id does not.
    entries = baggage_entries(downstream.headers_for("/call").get("baggage"))
    assert "botanu.run_id" in entries and "botanu.customer_id" not in entries
    assert ("botanu.run/Exporters" in result.stderr) == (
        "console" in variables.get("OTEL_TRACES_EXPORTER", "")
    )

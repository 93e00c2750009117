"""Which instrumentors load, and which pipeline runs, when botanu's distro is chosen.

Real subprocesses under `opentelemetry-instrument`, `botanu run` and `botanu.init()`, with the
stock opentelemetry-distro installed alongside botanu's, calling a loopback server and exporting
to the loopback OTLP receiver.
"""

from __future__ import annotations

import json
from importlib.metadata import entry_points

import pytest

from tests.zero_code._support import BIN, RecordingServer, clean_env, run
from tests.zero_code.test_instrument import CALLS, CLIENT_APP

INIT_APP = "import json, sys, botanu\nbotanu.init(**json.loads(sys.argv[2]))\n" + CLIENT_APP


@pytest.fixture
def downstream():
    server = RecordingServer()
    yield server
    server.close()


@pytest.fixture
def app(tmp_path):
    path = tmp_path / "app.py"
    path.write_text(CLIENT_APP)
    return path


def _launch(launcher: str, app, port: int, tmp_path, env: dict[str, str], init_args: dict | None = None):
    python_app = [str(BIN / "python"), str(app), str(port)]
    if launcher == "opentelemetry-instrument":
        args = [str(BIN / "opentelemetry-instrument"), *python_app]
    elif launcher == "botanu run":
        args = [str(BIN / "botanu"), "run", "--", *python_app]
    else:  # botanu.init() in the app, no zero-code launcher
        init_app = tmp_path / "init_app.py"
        init_app.write_text(INIT_APP)
        args = [str(BIN / "python"), str(init_app), str(port), json.dumps(init_args or {})]
    result = run(args, env, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "app done" in result.stdout
    assert "Traceback" not in result.stderr
    return result


def _client_scopes(receiver) -> set[str]:
    # The run span ends last: once it is in, every client span of the app is too.
    receiver.wait_for(lambda r: any(s.name == "botanu.run/ZeroCode" for s in r.spans()))
    return {s.scope for s in receiver.spans() if s.kind == "CLIENT"}


def test_distro_alone_brings_botanus_pipeline_next_to_the_stock_distro(
    app, tmp_path, otlp_receiver, downstream
):
    """OTEL_PYTHON_DISTRO=botanu alone: botanu's configurator, not the stock one found first."""
    assert {"distro", "botanu"} <= {e.name for e in entry_points(group="opentelemetry_distro")}
    assert {"configurator", "botanu"} <= {e.name for e in entry_points(group="opentelemetry_configurator")}
    env = clean_env(OTEL_PYTHON_DISTRO="botanu", BOTANU_ENDPOINT=otlp_receiver.endpoint)
    result = _launch("opentelemetry-instrument", app, downstream.port, tmp_path, env)
    assert "Configuration of botanu not loaded" not in result.stderr
    spans = otlp_receiver.wait_for_spans(len(CALLS) + 2)
    run_span = next(s for s in spans if s.name == "botanu.run/ZeroCode")
    assert run_span.resource["telemetry.distro.name"] == "botanu"
    # botanu's export (gzip protobuf to BOTANU_ENDPOINT) and redaction, not the stock pipeline.
    assert otlp_receiver.requests and all(
        r.headers.get("content-encoding") == "gzip" for r in otlp_receiver.requests
    )
    requests_span = next(s for s in spans if s.scope == "opentelemetry.instrumentation.requests")
    url = requests_span.attributes.get("url.full") or requests_span.attributes.get("http.url")
    assert "api_key=" in url and "sk-live-abcdefghijklmnopqrstuvwx" not in url
    assert all(b"sk-live-abcdefghijklmnopqrstuvwx" not in body for body in otlp_receiver.raw_bodies())
    assert run_span.attributes["botanu.customer_id"] == "cus-9"


def test_an_explicit_configurator_choice_wins_over_the_distros_default(
    app, tmp_path, otlp_receiver, downstream
):
    env = clean_env(
        OTEL_PYTHON_DISTRO="botanu",
        OTEL_PYTHON_CONFIGURATOR="configurator",
        BOTANU_ENDPOINT=otlp_receiver.endpoint,
        # The stock configurator exports with the SDK's exporter: send it to the receiver too.
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=otlp_receiver.endpoint,
    )
    result = _launch("opentelemetry-instrument", app, downstream.port, tmp_path, env)
    assert "Configuration of botanu not loaded" in result.stderr
    spans = otlp_receiver.wait_for_spans(len(CALLS) + 2)
    assert "telemetry.distro.name" not in spans[0].resource


@pytest.mark.parametrize("launcher", ["botanu run", "opentelemetry-instrument"])
def test_botanu_instrumentations_zero_turns_every_instrumentor_off(
    launcher, app, tmp_path, otlp_receiver, downstream
):
    env = clean_env(BOTANU_ENDPOINT=otlp_receiver.endpoint, BOTANU_INSTRUMENTATIONS="0")
    if launcher == "opentelemetry-instrument":
        env["OTEL_PYTHON_DISTRO"] = "botanu"
    _launch(launcher, app, downstream.port, tmp_path, env)
    assert _client_scopes(otlp_receiver) == set()
    assert [s.name for s in otlp_receiver.spans()] == ["botanu.step/calls", "botanu.run/ZeroCode"]


def test_botanu_instrumentations_lists_the_only_ones_that_load(app, tmp_path, otlp_receiver, downstream):
    env = clean_env(
        OTEL_PYTHON_DISTRO="botanu",
        BOTANU_ENDPOINT=otlp_receiver.endpoint,
        BOTANU_INSTRUMENTATIONS="requests,urllib",
    )
    _launch("opentelemetry-instrument", app, downstream.port, tmp_path, env)
    assert _client_scopes(otlp_receiver) == {
        "opentelemetry.instrumentation.requests",
        "opentelemetry.instrumentation.urllib",
    }


@pytest.mark.parametrize(
    "launcher", ["botanu run", "botanu.init() with environment", "botanu.init() argument"]
)
def test_botanu_and_otel_disabled_lists_both_apply(launcher, app, tmp_path, otlp_receiver, downstream):
    """botanu's disabled list adds to OTEL_PYTHON_DISABLED_INSTRUMENTATIONS; it never replaces it."""
    env = clean_env(BOTANU_ENDPOINT=otlp_receiver.endpoint, OTEL_PYTHON_DISABLED_INSTRUMENTATIONS="httpx")
    init_args = None
    if launcher == "botanu.init() argument":
        init_args = {"disabled_instrumentations": ["requests", "aiohttp-client"]}
    else:
        env["BOTANU_DISABLED_INSTRUMENTATIONS"] = "requests,aiohttp-client"
    _launch(launcher, app, downstream.port, tmp_path, env, init_args)
    scopes = _client_scopes(otlp_receiver)
    for off in ("httpx", "requests", "aiohttp_client"):
        assert f"opentelemetry.instrumentation.{off}" not in scopes, (off, scopes)
    # The others still load; requests' call is seen once, lower down, by urllib3.
    assert {"opentelemetry.instrumentation.urllib3", "opentelemetry.instrumentation.urllib"} <= scopes


def test_only_the_configurator_selected_says_what_is_not_applied(app, tmp_path, otlp_receiver, downstream):
    """The stock distro with botanu's configurator: the pipeline runs, the instrumentor settings cannot."""
    env = clean_env(
        OTEL_PYTHON_DISTRO="distro",
        OTEL_PYTHON_CONFIGURATOR="botanu",
        BOTANU_ENDPOINT=otlp_receiver.endpoint,
        BOTANU_INSTRUMENTATIONS="requests",
    )
    result = _launch("opentelemetry-instrument", app, downstream.port, tmp_path, env)
    assert result.stderr.count("BOTANU_INSTRUMENTATIONS not applied") == 1, result.stderr
    assert "OTEL_PYTHON_DISTRO=botanu" in result.stderr
    # The stock distro sets OTEL_EXPORTER_OTLP_PROTOCOL=grpc; botanu still exports OTLP/HTTP and says so.
    assert result.stderr.count("OTEL_EXPORTER_OTLP_PROTOCOL=grpc ignored") == 1, result.stderr
    assert "opentelemetry.instrumentation.httpx" in _client_scopes(otlp_receiver)
    assert all(r.headers.get("content-encoding") == "gzip" for r in otlp_receiver.requests)


def test_an_empty_variable_counts_as_unset_for_the_distros_defaults(monkeypatch):
    from botanu.distro import BotanuDistro

    monkeypatch.setenv("OTEL_PYTHON_CONFIGURATOR", "")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_COMPRESSION", " ")
    monkeypatch.setenv("OTEL_PROPAGATORS", "tracecontext")
    monkeypatch.setattr(BotanuDistro, "_instance", None)  # a singleton: leave none behind
    BotanuDistro()._configure()
    import os

    assert os.environ["OTEL_PYTHON_CONFIGURATOR"] == "botanu"
    assert os.environ["OTEL_EXPORTER_OTLP_COMPRESSION"] == "gzip"
    assert os.environ["OTEL_PROPAGATORS"] == "tracecontext"  # the user's own value wins

"""A Flask app served for real under opentelemetry-instrument: server, client and run spans in one trace."""

from __future__ import annotations

import subprocess
import textwrap
import urllib.request

import pytest

from tests.zero_code._support import BIN, RecordingServer, baggage_entries, clean_env

SERVER_APP = textwrap.dedent(
    """
    import sys, threading
    import requests
    from flask import Flask
    from werkzeug.serving import make_server
    import botanu

    downstream = int(sys.argv[1])
    app = Flask(__name__)

    @app.route("/checkout")
    def checkout():
        with botanu.event(event_id="cart-7", customer_id="cus-real", workflow="Checkout"):
            with botanu.step("pay"):
                requests.get(f"http://127.0.0.1:{downstream}/pay")
        return "paid"

    @app.route("/quit")
    def quit():
        threading.Thread(target=server.shutdown).start()
        return "bye"

    server = make_server("127.0.0.1", 0, app, threaded=True)
    print(server.server_port, flush=True)
    server.serve_forever()
    """
)


def serve_and_call(tmp_path, receiver, downstream, headers, **env_extra):
    app = tmp_path / "server.py"
    app.write_text(SERVER_APP)
    env = clean_env(
        OTEL_PYTHON_DISTRO="botanu",
        OTEL_PYTHON_CONFIGURATOR="botanu",
        BOTANU_ENDPOINT=receiver.endpoint,
        **env_extra,
    )
    process = subprocess.Popen(
        [str(BIN / "opentelemetry-instrument"), str(BIN / "python"), str(app), str(downstream.port)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        port = int(process.stdout.readline())
        request = urllib.request.Request(f"http://127.0.0.1:{port}/checkout", headers=headers)
        assert urllib.request.urlopen(request, timeout=10).read() == b"paid"
        urllib.request.urlopen(f"http://127.0.0.1:{port}/quit", timeout=10).read()
        _, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr
    return receiver.wait_for_spans(5)


@pytest.fixture
def downstream():
    server = RecordingServer()
    yield server
    server.close()


CALLER_TRACE = "0af7651916cd43dd8448eb211c80319c"
FORGED = {
    "traceparent": f"00-{CALLER_TRACE}-b7ad6b7169203331-01",
    "baggage": "botanu.customer_id=cus-forged,botanu.run_id=caller-run,app.flag=1",
}


def test_server_client_and_run_spans_share_one_trace(tmp_path, otlp_receiver, downstream):
    spans = serve_and_call(tmp_path, otlp_receiver, downstream, FORGED)
    by_kind = {}
    for span in spans:
        by_kind.setdefault(span.kind, []).append(span)
    server = next(s for s in by_kind["SERVER"] if s.scope == "opentelemetry.instrumentation.flask")
    run_span = next(s for s in spans if s.name == "botanu.run/Checkout")
    step = next(s for s in spans if s.name == "botanu.step/pay")
    client = next(
        s
        for s in by_kind["CLIENT"]
        if "/pay" in (s.attributes.get("url.full") or s.attributes.get("http.url"))
    )
    checkout = [s for s in spans if s.trace_id == CALLER_TRACE and s.name != "GET /quit"]
    assert {server.span_id, run_span.span_id, step.span_id, client.span_id} <= {s.span_id for s in checkout}
    assert run_span.parent_span_id == server.span_id
    assert step.parent_span_id == run_span.span_id
    assert client.parent_span_id == step.span_id
    assert client.attributes["botanu.run_id"] == run_span.attributes["botanu.run_id"]
    # Edge default: callers cannot forge attribution through baggage.
    assert "botanu.customer_id" not in server.attributes
    assert run_span.attributes["botanu.customer_id"] == "cus-real"
    assert "botanu.parent_run_id" not in run_span.attributes
    # The app's own (non-botanu) baggage is left alone and still flows on.
    entries = baggage_entries(downstream.headers_for("/pay").get("baggage"))
    assert entries.get("app.flag") == "1"
    assert entries["botanu.run_id"] == run_span.attributes["botanu.run_id"]
    assert "cus-forged" not in str(entries)


def test_trusted_inbound_baggage_continues_the_callers_run(tmp_path, otlp_receiver, downstream):
    spans = serve_and_call(tmp_path, otlp_receiver, downstream, FORGED, BOTANU_TRUST_INBOUND_BAGGAGE="1")
    server = next(
        s
        for s in spans
        if s.kind == "SERVER"
        and s.scope == "opentelemetry.instrumentation.flask"
        and s.trace_id == CALLER_TRACE
    )
    run_span = next(s for s in spans if s.name == "botanu.run/Checkout")
    assert server.attributes["botanu.run_id"] == "caller-run"
    assert server.attributes["botanu.customer_id"] == "cus-forged"
    assert run_span.attributes["botanu.parent_run_id"] == "caller-run"


def test_malformed_and_oversized_baggage_never_breaks_the_request(tmp_path, otlp_receiver, downstream):
    headers = {"traceparent": FORGED["traceparent"], "baggage": "botanu.run_id=" + "x" * 9000 + ",;;==,%%%"}
    spans = serve_and_call(tmp_path, otlp_receiver, downstream, headers, BOTANU_TRUST_INBOUND_BAGGAGE="1")
    run_span = next(s for s in spans if s.name == "botanu.run/Checkout")
    assert "x" * 100 not in str(run_span.attributes)

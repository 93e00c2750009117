"""init / force_flush / shutdown against a real loopback collector (and a dead one)."""

from __future__ import annotations

import logging
import socket
import subprocess
import sys
import time
from pathlib import Path

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import botanu
from tests.support.otlp_receiver import Reply

ROOT = Path(__file__).resolve().parents[2]


def dead_endpoint() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1/traces"


def test_wire_format_gzip_protobuf_and_auth_header(botanu_init, otlp_receiver):
    botanu_init(api_key="k-123", headers={"x-team": "payments"})
    with botanu.event(event_id="e", customer_id="c", workflow="Wire"):
        pass
    assert botanu.force_flush(5)
    request = otlp_receiver.requests[0]
    assert request.path == "/v1/traces"
    assert request.headers["content-type"] == "application/x-protobuf"
    assert request.headers["content-encoding"] == "gzip"
    assert request.raw[:2] == b"\x1f\x8b"
    assert request.headers["authorization"] == "Bearer k-123"
    assert request.headers["x-team"] == "payments"


def test_force_flush_false_when_collector_fails(botanu_init, otlp_receiver):
    botanu_init()
    otlp_receiver.default = Reply(500)
    with botanu.event(event_id="e", customer_id="c", workflow="Fail"):
        pass
    assert botanu.force_flush(5) is False
    assert botanu.stats()["dropped"]["not_retryable"] == 1
    otlp_receiver.default = Reply(200)
    with botanu.event(event_id="e", customer_id="c", workflow="Ok"):
        pass
    assert botanu.force_flush(5) is True


def test_force_flush_retries_transient_errors(botanu_init, otlp_receiver):
    botanu_init()
    otlp_receiver.script([Reply(503, headers={"Retry-After": "0"}), Reply(200)])
    with botanu.event(event_id="e", customer_id="c", workflow="Retry"):
        pass
    assert botanu.force_flush(10) is True
    assert [r.reply.status for r in otlp_receiver.requests] == [503, 200]
    assert botanu.stats()["exported"] == 1


def test_shutdown_bounded_when_collector_is_down(botanu_init, caplog):
    botanu_init(endpoint=dead_endpoint())
    for i in range(50):
        with botanu.event(event_id=str(i), customer_id="c", workflow="Down"):
            pass
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="botanu"):
        delivered = botanu.shutdown(timeout=2)
    elapsed = time.monotonic() - started
    assert delivered is False
    assert elapsed < 3.0, elapsed
    warnings = [r.getMessage() for r in caplog.records if "cannot deliver" in r.getMessage()]
    assert len(warnings) == 1
    assert any("were not delivered" in r.getMessage() for r in caplog.records)


def test_shutdown_bounded_when_collector_hangs(botanu_init, otlp_receiver):
    botanu_init(export_timeout=30)
    otlp_receiver.default = Reply(200, delay=20)
    with botanu.event(event_id="e", customer_id="c", workflow="Hang"):
        pass
    started = time.monotonic()
    assert botanu.shutdown(timeout=1.5) is False
    assert time.monotonic() - started < 2.5


def test_second_init_is_noop_with_warning(botanu_init, otlp_receiver, caplog):
    first = botanu_init(service_name="one")
    with caplog.at_level(logging.WARNING, logger="botanu"):
        second = botanu.init(service_name="two", endpoint=otlp_receiver.endpoint, console=True)
    assert second is first
    message = next(r.getMessage() for r in caplog.records if "already called" in r.getMessage())
    assert "service_name" in message and "console" in message and "endpoint" not in message


def test_attaches_to_existing_sdk_provider_without_duplicates(clean_botanu, otlp_receiver):
    provider = TracerProvider()
    local = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(local))
    trace.set_tracer_provider(provider)
    botanu.init(endpoint=otlp_receiver.endpoint, instrumentations=False)
    botanu.init(endpoint=otlp_receiver.endpoint, instrumentations=False)  # still one pipeline
    assert trace.get_tracer_provider() is provider
    with botanu.event(event_id="e", customer_id="c", workflow="Existing"):
        with trace.get_tracer("app").start_as_current_span("app-span"):
            pass
    assert botanu.force_flush(5)
    received = otlp_receiver.wait_for_spans(2)
    assert sorted(s.name for s in received) == ["app-span", "botanu.run/Existing"]
    time.sleep(0.2)
    assert len(otlp_receiver.spans()) == 2, "each span exported exactly once"
    # The app's own processor keeps working, and sees botanu's stamping too.
    assert {s.name for s in local.get_finished_spans()} == {"app-span", "botanu.run/Existing"}
    app_span = next(s for s in local.get_finished_spans() if s.name == "app-span")
    assert app_span.attributes["botanu.workflow"] == "Existing"


def test_non_sdk_provider_warns_and_does_not_crash(clean_botanu, caplog):
    class VendorProvider(trace.NoOpTracerProvider):
        pass

    trace.set_tracer_provider(VendorProvider())
    with caplog.at_level(logging.WARNING, logger="botanu"):
        botanu.init(endpoint=dead_endpoint(), instrumentations=False)
    assert any(
        "VendorProvider" in r.getMessage() and "cannot add its processors" in r.getMessage()
        for r in caplog.records
    )
    with botanu.event(event_id="e", customer_id="c", workflow="NoSdk") as run:
        assert run is not None
    assert botanu.force_flush(1) is True


def test_sdk_disabled_env(clean_botanu, monkeypatch):
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    botanu.init(instrumentations=False)
    assert isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)
    with botanu.event(event_id="e", customer_id="c", workflow="Off"):
        pass


def test_quickstart_demo_without_collector_exits_fast(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "BOTANU_ENDPOINT": dead_endpoint(), "HOME": str(tmp_path)}
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "quickstart.py")],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=tmp_path,
    )
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert elapsed < 6, elapsed  # interpreter start and imports included; exit itself is quick
    assert "Traceback" not in result.stderr
    assert result.stderr.count("cannot deliver spans") == 1
    assert "botanu.run/Support" in result.stderr and "└─ botanu.step/generation" in result.stderr
    assert "· WARN order ord_778 is past the refund window" in result.stderr  # a log inside its tree
    assert "agent answered" in result.stdout


def test_resource_from_settings_and_otel_resource_attributes(botanu_init, otlp_receiver, monkeypatch):
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "team=payments,service.name=from-resource-env")
    botanu_init(service_version="2.4.1", environment="staging")
    with botanu.event(event_id="e", customer_id="c", workflow="Res"):
        pass
    assert botanu.force_flush(5)
    resource = otlp_receiver.wait_for_spans(1)[0].resource
    assert resource["team"] == "payments"
    assert resource["service.name"] == "from-resource-env"
    assert resource["service.version"] == "2.4.1"
    assert resource["deployment.environment.name"] == "staging"
    assert resource["telemetry.distro.name"] == "botanu"


def test_shutdown_is_false_after_an_earlier_failed_flush(botanu_init, otlp_receiver):
    botanu_init(spool=False)
    otlp_receiver.default = Reply(400)
    with botanu.event(event_id="e", customer_id="c", workflow="Lost"):
        pass
    assert botanu.force_flush(5) is False
    otlp_receiver.default = Reply(200)
    # Nothing new failed since that flush, but a span of this process was lost: not "all delivered".
    assert botanu.shutdown(timeout=5) is False


def test_run_ids_are_exported_intact_unless_a_user_pattern_asks_for_them(botanu_init, otlp_receiver):
    """The pipeline tells its redactor about botanu's own run ids; a user pattern still wins."""
    botanu_init(redact_patterns=[r"\b[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}\b"])
    ids = []
    for _ in range(3):  # later runs find every other value already known clean
        with botanu.event(event_id="T-1", customer_id="c-1", workflow="Patterned") as run:
            with botanu.step("inner"):
                ids.append(run.run_id)
    assert botanu.force_flush(5)
    spans = otlp_receiver.wait_for_spans(6)
    assert len(spans) == 6
    for span in spans:
        assert not any(run_id in str(span.attributes) for run_id in ids)
        assert "custom" in str(span.attributes["botanu.redaction.rules"])


def test_run_ids_reach_the_collector_unchanged_by_default(botanu_init, otlp_receiver):
    botanu_init()
    ids = []
    for _ in range(3):
        with botanu.event(event_id="T-1", customer_id="c-1", workflow="Plain") as run:
            with botanu.step("inner"):
                ids.append(run.run_id)
    assert botanu.force_flush(5)
    spans = otlp_receiver.wait_for_spans(6)
    assert sorted(s.attributes["botanu.run_id"] for s in spans) == sorted(ids * 2)
    assert all("botanu.redaction.count" not in s.attributes for s in spans)


def test_init_after_the_configurator_warns_only_when_its_arguments_are_dropped(
    clean_botanu, otlp_receiver, monkeypatch, caplog
):
    from botanu import _pipeline

    monkeypatch.setenv("BOTANU_ENDPOINT", otlp_receiver.endpoint)
    _pipeline.init(_instrument=False, _origin="opentelemetry-instrument")  # as the configurator does
    with caplog.at_level(logging.INFO, logger="botanu"):
        botanu.init()
        botanu.init(service_name="in-app", propagate_to=["127.0.0.1"])
    notes = [r for r in caplog.records if "already set up by opentelemetry-instrument" in r.getMessage()]
    assert [r.levelno for r in notes] == [logging.INFO, logging.WARNING]
    assert "settings not applied: service_name, propagate_to" in notes[1].getMessage()
    assert "BOTANU_* environment variables" in notes[1].getMessage()

"""Edge cases found in review: each once broke an invariant (raised, leaked, lost or doubled spans)."""

from __future__ import annotations

import logging

import pytest
from opentelemetry import baggage, trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import botanu
from botanu import _instrumentation
from botanu._config import resolve_settings
from botanu._safety import set_strict


def test_malformed_endpoint_is_reported_not_raised(clean_botanu, caplog):
    with caplog.at_level(logging.ERROR, logger="botanu"):
        settings = botanu.init(endpoint="http://[::1/v1/traces", instrumentations=False)
    assert settings.sources["endpoint"] == "default"
    assert any("'endpoint' from argument" in r.getMessage() for r in caplog.records)


def test_credentials_in_an_invalid_endpoint_are_never_logged(caplog):
    with caplog.at_level(logging.DEBUG, logger="botanu"):
        resolve_settings({}, {"BOTANU_ENDPOINT": "https://alice:S3cretPassw0rd@collector.example:99999/v1"})
    text = " ".join(r.getMessage() for r in caplog.records)
    assert "'endpoint' from BOTANU_ENDPOINT" in text
    assert "S3cretPassw0rd" not in text and "alice" not in text


def test_explicit_strict_false_beats_the_environment(clean_botanu, monkeypatch, caplog):
    monkeypatch.setenv("BOTANU_STRICT", "1")
    botanu.init(strict=False, instrumentations=False, spool=False)
    with caplog.at_level(logging.WARNING, logger="botanu"):
        botanu.outcome("success")  # misuse: outside a run
    assert any("outside a botanu.event() run" in r.getMessage() for r in caplog.records)


def test_bad_shutdown_timeout_in_strict_mode_keeps_the_pipeline(botanu_init, otlp_receiver):
    botanu_init()
    with botanu.event(event_id="e", customer_id="c", workflow="Kept"):
        pass
    set_strict(True)
    with pytest.raises(botanu.BotanuUsageError):
        botanu.shutdown(timeout="2")
    set_strict(False)
    assert botanu.shutdown(timeout=5) is True
    assert [s.name for s in otlp_receiver.wait_for_spans(1)] == ["botanu.run/Kept"]


def test_init_after_shutdown_processes_each_span_once(botanu_init, otlp_receiver):
    botanu_init()
    botanu.shutdown(timeout=2)
    botanu_init()
    with botanu.event(event_id="e", customer_id="c", workflow="Again"):
        pass
    assert botanu.force_flush(5) is True
    assert [s.name for s in otlp_receiver.wait_for_spans(1)] == ["botanu.run/Again"]
    stats = botanu.stats()
    assert stats["dropped"] == {}
    assert stats["spans_queued"] == 1


def test_generator_cleanup_runs_in_the_run_and_its_failure_ends_the_span(botanu_init, otlp_receiver):
    botanu_init()
    seen = []

    @botanu.event(workflow="Gen", event_id="e", customer_id="c")
    def produce():
        try:
            yield 1
            yield 2
        finally:
            seen.append(baggage.get_baggage("botanu.workflow"))
            raise RuntimeError("cleanup failed")

    gen = produce()
    next(gen)
    with pytest.raises(RuntimeError):
        gen.close()
    assert seen == ["Gen"]
    assert botanu.current_run() is None
    assert botanu.force_flush(5)
    span = otlp_receiver.wait_for_spans(1)[0]
    assert span.status_code == "ERROR" and span.attributes["botanu.outcome.status"] == "failure"


def test_wildcard_disables_every_instrumentation():
    settings = resolve_settings({}, {"OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "*"})
    assert all(decision != "on" for _, decision in _instrumentation.plan(settings))


def test_warns_when_the_existing_provider_already_exports(clean_botanu, otlp_receiver, caplog):
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(InMemorySpanExporter()))
    trace.set_tracer_provider(provider)
    with caplog.at_level(logging.WARNING, logger="botanu"):
        botanu.init(endpoint=otlp_receiver.endpoint, instrumentations=False)
    assert any("already exports spans through SimpleSpanProcessor" in r.getMessage() for r in caplog.records)

"""RedactingSpanProcessor: copies, fast path, audit attributes, fail-closed behaviour."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry import trace as trace_api
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanLimits, SpanProcessor, TracerProvider
from opentelemetry.trace import Status, StatusCode

from botanu.redaction import RedactingSpanProcessor, Redactor, redaction_stats
from botanu.redaction._redactor import CLEAN

TOKEN = "ghp_R4nd0mT0k3nV4lu3F0rT3st1ngPurp0s3sX"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjMifQ.c2lnbmF0dXJlMTIzNDU2"


class Recorder(SpanProcessor):
    """Keeps what it is given and how it was called."""

    def __init__(self) -> None:
        self.started: list[Any] = []
        self.ending: list[Any] = []
        self.ended: list[ReadableSpan] = []
        self.flushed: list[int] = []
        self.shut = False

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        self.started.append((span, parent_context))

    def _on_ending(self, span: Span) -> None:
        self.ending.append(span)

    def on_end(self, span: ReadableSpan) -> None:
        self.ended.append(span)

    def shutdown(self) -> None:
        self.shut = True

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        self.flushed.append(timeout_millis)
        return False


@pytest.fixture
def pipeline() -> Iterator[tuple[TracerProvider, Recorder, RedactingSpanProcessor]]:
    recorder = Recorder()
    processor = RedactingSpanProcessor(recorder, Redactor(mode="remove"))
    provider = TracerProvider(
        resource=Resource.create({"service.name": "svc"}), span_limits=SpanLimits(max_attributes=8)
    )
    provider.add_span_processor(processor)
    yield provider, recorder, processor
    provider.shutdown()


def test_forwarding(pipeline: tuple[TracerProvider, Recorder, RedactingSpanProcessor]) -> None:
    provider, recorder, processor = pipeline
    with provider.get_tracer("t").start_as_current_span("op"):
        pass
    assert len(recorder.started) == 1 and len(recorder.ending) == 1 and len(recorder.ended) == 1
    assert processor.force_flush(1234) is False and recorder.flushed == [1234]
    processor.shutdown()
    assert recorder.shut
    assert processor.wrapped is recorder and processor.redactor.mode == "remove"
    assert RedactingSpanProcessor(recorder).redactor.mode == "mask"


def test_clean_span_is_passed_through_untouched() -> None:
    spy, recorder = Recorder(), Recorder()
    provider = TracerProvider()
    provider.add_span_processor(spy)  # sees the very object the SDK hands to on_end
    provider.add_span_processor(RedactingSpanProcessor(recorder))
    with provider.get_tracer("t").start_as_current_span(
        "GET /orders", attributes={"http.method": "GET"}
    ) as span:
        span.add_event("cache miss", {"cache.key": "orders:1"})
    assert recorder.ended[0] is spy.ended[0]
    stats = redaction_stats()
    assert stats["spans_seen"] == 1 and stats["spans_changed"] == 0


def test_secrets_everywhere_in_a_span_are_redacted_in_a_copy(
    pipeline: tuple[TracerProvider, Recorder, RedactingSpanProcessor],
) -> None:
    provider, recorder, _ = pipeline
    tracer = provider.get_tracer("t")
    with tracer.start_as_current_span("linked") as other:
        pass
    link = trace_api.Link(other.get_span_context(), {"note": f"from {TOKEN}", "ok": "yes"})
    with tracer.start_as_current_span(f"call with {TOKEN}", links=[link]) as span:
        span.set_attribute("password", "hunter2")
        span.set_attribute("http.request.header.authorization", (f"Bearer {JWT}",))
        span.set_attribute("url.full", "https://u:pw@api.example.com/x?api_key=abc123&page=2")
        span.set_attribute("botanu.customer_id", "cust-42")
        span.add_event("retry", {"detail": f"token={TOKEN}", "attempt": 2})
        span.record_exception(RuntimeError(f"rejected {JWT}"))
        span.set_status(Status(StatusCode.ERROR, f"auth failed for {TOKEN}"))

    exported = recorder.ended[-1]
    assert exported is not span
    assert exported.name == "call with [REDACTED]"
    assert exported.attributes["password"] == "[REDACTED]"
    assert exported.attributes["http.request.header.authorization"] == ("[REDACTED]",)
    assert exported.attributes["url.full"] == "https://[REDACTED]@api.example.com/x?api_key=[REDACTED]&page=2"
    assert exported.attributes["botanu.customer_id"] == "cust-42"
    assert exported.status.status_code is StatusCode.ERROR
    assert exported.status.description == "auth failed for [REDACTED]"
    retry, exception = exported.events
    assert retry.attributes["detail"] == "token=[REDACTED]" and retry.attributes["attempt"] == 2
    assert exception.name == "exception"
    assert JWT not in exception.attributes["exception.message"]
    assert JWT not in exception.attributes["exception.stacktrace"]
    assert exception.attributes["exception.type"] == "RuntimeError"
    assert exported.links[0].attributes == {"note": "from [REDACTED]", "ok": "yes"}
    assert exported.links[0].context == other.get_span_context()
    # Audit: a count and rule names, never the matched text.
    assert exported.attributes["botanu.redaction.count"] == 10
    rules = exported.attributes["botanu.redaction.rules"]
    assert isinstance(rules, tuple) and "key:password" in rules and "github_token" in rules and "jwt" in rules
    assert not any(TOKEN in r or "hunter2" in r for r in rules)
    # Everything else is carried over.
    assert exported.context == span.context and exported.parent == span.parent
    assert (exported.start_time, exported.end_time, exported.kind) == (
        span.start_time,
        span.end_time,
        span.kind,
    )
    assert exported.instrumentation_scope == span.instrumentation_scope
    assert exported.resource is span.resource
    # The live span was not modified.
    assert span.name == f"call with {TOKEN}" and span.attributes["password"] == "hunter2"
    assert "botanu.redaction.count" not in span.attributes
    stats = redaction_stats()
    assert stats["spans_changed"] == 1 and stats["values_redacted"] == 10


def test_dropped_counts_survive_the_copy(
    pipeline: tuple[TracerProvider, Recorder, RedactingSpanProcessor],
) -> None:
    provider, recorder, _ = pipeline
    with provider.get_tracer("t").start_as_current_span("op") as span:
        for i in range(10):  # the limit is 8: two are dropped
            span.set_attribute(f"a{i}", i)
        span.set_attribute("password", "p")
    exported = recorder.ended[-1]
    assert exported is not span
    assert exported.dropped_attributes == span.dropped_attributes == 3


def test_resource_attributes_are_redacted_once() -> None:
    recorder = Recorder()
    resource = Resource.create(
        {"service.name": "svc", "process.command_args": ("app.py", "--password=hunter2")}
    )
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(RedactingSpanProcessor(recorder, Redactor(mode="remove")))
    tracer = provider.get_tracer("t")
    for _ in range(3):
        with tracer.start_as_current_span("op"):
            pass
    exported = [s.resource for s in recorder.ended]
    assert exported[0] is exported[1] is exported[2]
    assert exported[0].attributes["process.command_args"] == ("app.py", "--password=[REDACTED]")
    assert recorder.ended[0].attributes["botanu.redaction.count"] == 1


def test_failure_fails_closed(
    pipeline: tuple[TracerProvider, Recorder, RedactingSpanProcessor],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    provider, recorder, processor = pipeline

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("redaction bug")

    monkeypatch.setattr(processor.redactor, "_attributes", broken)
    tracer = provider.get_tracer("t")
    with caplog.at_level(logging.ERROR, logger="botanu"):
        for _ in range(2):
            with tracer.start_as_current_span("op") as span:
                span.set_attribute("note", f"uses {TOKEN}")
                span.set_attribute("count", 3)
                span.add_event("e", {"detail": TOKEN})
                span.set_status(Status(StatusCode.ERROR, TOKEN))
    assert len(recorder.ended) == 2  # still forwarded, never raised into span.end()
    exported = recorder.ended[-1]
    assert exported.attributes["note"] == "[REDACTED: redaction failed]"
    assert exported.attributes["count"] == 3
    assert exported.attributes["botanu.redaction.rules"] == ("redaction_failed",)
    assert exported.events[0].attributes["detail"] == "[REDACTED: redaction failed]"
    assert exported.status.description == "[REDACTED: redaction failed]"
    assert TOKEN not in repr(exported.to_json())
    assert sum("redaction failed" in r.getMessage() for r in caplog.records) == 1
    assert redaction_stats()["failures"] == 2


def test_when_even_the_fallback_fails_the_span_is_dropped_and_counted(
    pipeline: tuple[TracerProvider, Recorder, RedactingSpanProcessor], monkeypatch: pytest.MonkeyPatch
) -> None:
    provider, recorder, processor = pipeline
    from botanu.redaction import _processor

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("bug")

    monkeypatch.setattr(processor.redactor, "_attributes", broken)
    monkeypatch.setattr(_processor, "_copy", broken)
    with provider.get_tracer("t").start_as_current_span("op") as span:
        span.set_attribute("note", TOKEN)
    assert recorder.ended == []
    stats = redaction_stats()
    assert stats["failures"] == 1 and stats["spans_dropped"] == 1


def test_a_failing_wrapped_processor_does_not_reach_the_caller(caplog: pytest.LogCaptureFixture) -> None:
    class Exploding(Recorder):
        def on_end(self, span: ReadableSpan) -> None:
            raise ValueError("exporter bug")

    provider = TracerProvider()
    provider.add_span_processor(RedactingSpanProcessor(Exploding()))
    with caplog.at_level(logging.ERROR, logger="botanu"):
        with provider.get_tracer("t").start_as_current_span("op"):
            pass
    assert any("raised in on_end" in r.getMessage() for r in caplog.records)


def test_callback_sees_names_and_descriptions_under_pseudo_keys() -> None:
    seen: list[str] = []

    def callback(key: str, original: Any, redacted: Any) -> Any:
        seen.append(key)
        return redacted

    recorder = Recorder()
    provider = TracerProvider()
    provider.add_span_processor(RedactingSpanProcessor(recorder, Redactor(callback=callback)))
    with provider.get_tracer("t").start_as_current_span("op", attributes={"a": "b"}) as span:
        span.add_event("ev")
        span.set_status(Status(StatusCode.ERROR, "bad thing"))
    assert {"a", "<span.name>", "<event.name>", "<status.description>"} <= set(seen)


def test_baggage_derived_attributes_are_redacted() -> None:
    from opentelemetry import baggage

    class BaggageToAttributes(SpanProcessor):
        """Like botanu's run enricher: copies baggage entries onto every span at start."""

        def on_start(self, span: Span, parent_context: Context | None = None) -> None:
            span.set_attributes({k: str(v) for k, v in baggage.get_all(parent_context).items()})

    recorder = Recorder()
    provider = TracerProvider()
    provider.add_span_processor(BaggageToAttributes())
    provider.add_span_processor(RedactingSpanProcessor(recorder, Redactor(mode="remove")))
    context = baggage.set_baggage("botanu.customer_id", "cust-42")
    context = baggage.set_baggage("session_token", "s3ss10n-t0k3n", context)
    context = baggage.set_baggage("botanu.note", f"retry with {TOKEN}", context)
    with provider.get_tracer("t").start_as_current_span("op", context=context):
        pass
    exported = recorder.ended[-1].attributes
    assert exported["botanu.customer_id"] == "cust-42"
    assert exported["session_token"] == "[REDACTED]"
    assert exported["botanu.note"] == "retry with [REDACTED]"


def test_concurrent_spans_share_one_redactor() -> None:
    import threading

    recorder = Recorder()
    provider = TracerProvider()
    provider.add_span_processor(RedactingSpanProcessor(recorder, Redactor(mode="remove")))
    tracer = provider.get_tracer("t")
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            for i in range(300):
                with tracer.start_as_current_span(f"op {i % 7}") as span:
                    note = f"worker {worker} uses {TOKEN}" if i % 3 == 0 else f"plain {i}"
                    span.set_attribute("note", note)
                    span.set_attribute("botanu.workflow", "checkout")
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert len(recorder.ended) == 1200
    assert not [s for s in recorder.ended if TOKEN in str(s.attributes["note"])]
    assert redaction_stats()["spans_changed"] == 400


@pytest.mark.parametrize(
    "dirty_part",
    ["attribute", "new key", "name", "status", "event", "link", "resource"],
)
def test_a_warm_fast_path_still_sees_a_secret_in_any_part_of_a_span(dirty_part: str) -> None:
    """Once a span shape is known clean, one secret in any part of an otherwise equal span is caught."""
    recorder = Recorder()
    processor = RedactingSpanProcessor(recorder, Redactor(mode="remove"))
    clean_resource = Resource.create({"service.name": "svc"})
    dirty_resource = Resource.create({"service.name": "svc", "deploy.key": JWT})

    def one_span(part: str) -> ReadableSpan:
        provider = TracerProvider(resource=dirty_resource if part == "resource" else clean_resource)
        provider.add_span_processor(processor)
        attributes = {
            "botanu.workflow": "checkout",
            "http.route": f"/orders/{TOKEN}" if part == "attribute" else "/orders/{id}",
            "http.status_code": 200,
            "botanu.run_id": "0192f0e4-7a1b-7c3d-8e9f-0a1b2c3d4e5f",
        }
        if part == "new key":
            attributes["client_secret"] = "hunter22hunter22"
        links = []
        if part == "link":
            links = [trace_api.Link(trace_api.SpanContext(1, 2, False), {"note": f"Bearer {TOKEN}"})]
        name = f"GET /reset?token={TOKEN}" if part == "name" else "GET /orders/{id}"
        span = provider.get_tracer("t").start_span(name, attributes=attributes, links=links)
        if part == "status":
            span.set_status(Status(StatusCode.ERROR, f"login failed for {JWT}"))
        if part == "event":
            span.add_event("retry", {"detail": f"token={TOKEN}"})
        span.end()
        return recorder.ended[-1]

    for _ in range(3):  # warm every cache with the clean version of the span
        one_span("none")
    assert redaction_stats()["spans_changed"] == 0
    exported = one_span(dirty_part)
    assert redaction_stats()["spans_changed"] == 1
    text = repr(
        (
            exported.name,
            dict(exported.attributes or {}),
            exported.status.description,
            [(event.name, dict(event.attributes or {})) for event in exported.events],
            [dict(link.attributes or {}) for link in exported.links],
            dict(exported.resource.attributes),
        )
    )
    assert TOKEN not in text and JWT not in text and "hunter22" not in text
    assert exported.attributes["botanu.redaction.count"] >= 1


def test_a_short_span_name_is_exported_as_it_is() -> None:
    spy, recorder = Recorder(), Recorder()
    provider = TracerProvider()
    provider.add_span_processor(spy)
    provider.add_span_processor(RedactingSpanProcessor(recorder))
    for _ in range(2):
        with provider.get_tracer("t").start_as_current_span("op", attributes={"http.method": "GET"}):
            pass
    assert recorder.ended == spy.ended and [span.name for span in recorder.ended] == ["op", "op"]


def test_a_batch_processor_subclass_that_uses_span_starts_still_gets_them() -> None:
    """Starts are skipped only for the SDK's own processors, which ignore them."""
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    class CountingBatch(BatchSpanProcessor):
        started = 0

        def on_start(self, span: Span, parent_context: Context | None = None) -> None:
            type(self).started += 1

    exporter = InMemorySpanExporter()
    batch = CountingBatch(exporter)
    provider = TracerProvider()
    provider.add_span_processor(RedactingSpanProcessor(batch))
    with provider.get_tracer("t").start_as_current_span("op", attributes={"api_key": "hunter22hunter22"}):
        pass
    provider.force_flush()
    assert CountingBatch.started == 1
    [span] = exporter.get_finished_spans()
    assert "hunter22" not in str(dict(span.attributes))
    provider.shutdown()


@pytest.mark.parametrize("name", ["checkout", "GET /orders/{id}", "charge card"])
def test_a_repeated_clean_span_name_lets_the_span_take_the_known_clean_path(name: str) -> None:
    recorder = Recorder()
    processor = RedactingSpanProcessor(recorder)
    provider = TracerProvider()
    provider.add_span_processor(processor)
    ended = []
    for _ in range(2):
        span = provider.get_tracer("t").start_span(name, attributes={"app.step": "pay"})
        span.end()
        ended.append(span)
    # The first span taught the name (and attributes); the second needs no look beyond the caches.
    assert processor._unchanged(ended[1])
    assert [span.name for span in recorder.ended] == [name, name]


def test_a_span_name_with_a_secret_is_never_remembered_as_clean() -> None:
    recorder = Recorder()
    processor = RedactingSpanProcessor(recorder)
    provider = TracerProvider()
    provider.add_span_processor(processor)
    name = f"GET /reset?token={TOKEN}"
    for _ in range(3):
        provider.get_tracer("t").start_span(name).end()
    assert all(TOKEN not in span.name for span in recorder.ended)
    assert processor.redactor._text_cache.get(name) is not CLEAN

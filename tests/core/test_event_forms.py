"""Every form of botanu.event / botanu.step, checked on what the collector received."""

from __future__ import annotations

import asyncio

import pytest

import botanu
from botanu import SpanKind

RUN_KEYS = ("botanu.run_id", "botanu.workflow", "botanu.event_id", "botanu.customer_id")


def flush_and_get(receiver, count):
    assert botanu.force_flush(5) is True
    spans = receiver.wait_for_spans(count)
    assert len(spans) == count, [s.name for s in spans]
    return {s.name: s for s in spans}


def test_sync_context_manager(botanu_init, otlp_receiver):
    botanu_init(service_name="svc", environment="test")
    with botanu.event(event_id="ev-1", customer_id="cus-1", workflow="Support", tenant_id="t-1") as run:
        assert run.workflow == "Support"
        with botanu.step("retrieval"), botanu.step("rerank"):
            pass
    spans = flush_and_get(otlp_receiver, 3)
    root = spans["botanu.run/Support"]
    assert root.kind == "SERVER"
    assert root.attributes["botanu.run_id"] == run.run_id
    assert root.attributes["botanu.event_id"] == "ev-1"
    assert root.attributes["botanu.customer_id"] == "cus-1"
    assert root.attributes["botanu.tenant_id"] == "t-1"
    assert root.attributes["botanu.environment"] == "test"
    assert root.attributes["botanu.outcome.status"] == "success"
    retrieval = spans["botanu.step/retrieval"]
    rerank = spans["botanu.step/rerank"]
    assert retrieval.kind == "INTERNAL" and rerank.kind == "INTERNAL"
    assert retrieval.parent_span_id == root.span_id
    assert rerank.parent_span_id == retrieval.span_id
    assert rerank.attributes["botanu.step"] == "rerank"
    # Steps carry the run's identity too (stamped from baggage).
    for key in RUN_KEYS:
        assert rerank.attributes[key] == root.attributes[key]
    assert {s.trace_id for s in spans.values()} == {root.trace_id}
    assert root.resource["service.name"] == "svc"
    assert root.resource["deployment.environment.name"] == "test"
    assert root.resource["telemetry.distro.name"] == "botanu"
    assert root.resource["telemetry.distro.version"] == botanu.__version__


def test_async_context_manager(botanu_init, otlp_receiver):
    botanu_init()

    async def handler():
        async with botanu.event(event_id="e", customer_id="c", workflow="Async"):
            async with botanu.step("think"):
                await asyncio.sleep(0)
                return botanu.current_run()

    run = asyncio.run(handler())
    assert run.step == "think"
    spans = flush_and_get(otlp_receiver, 2)
    assert spans["botanu.step/think"].parent_span_id == spans["botanu.run/Async"].span_id
    assert spans["botanu.run/Async"].attributes["botanu.run_id"] == run.run_id


def test_sync_decorator_with_callable_ids(botanu_init, otlp_receiver):
    botanu_init()

    @botanu.event(
        workflow="Support",
        event_id=lambda ticket, **_: ticket["id"],
        customer_id=lambda ticket, **_: ticket["user"],
    )
    def handle(ticket, *, priority="low"):
        return botanu.current_run()

    run = handle({"id": "T-9", "user": "U-3"}, priority="high")
    assert handle.__name__ == "handle"
    spans = flush_and_get(otlp_receiver, 1)
    root = spans["botanu.run/Support"]
    assert root.attributes["botanu.event_id"] == "T-9"
    assert root.attributes["botanu.customer_id"] == "U-3"
    assert root.attributes["botanu.run_id"] == run.run_id


def test_async_decorator_each_call_is_a_new_run(botanu_init, otlp_receiver):
    botanu_init()

    @botanu.event(workflow="Chat", event_id=lambda n: f"e{n}", customer_id="c")
    async def answer(n):
        await asyncio.sleep(0.01)
        return botanu.current_run().run_id

    async def main():
        return await asyncio.gather(*(answer(i) for i in range(5)))

    run_ids = asyncio.run(main())
    assert len(set(run_ids)) == 5
    spans = otlp_receiver.spans() if botanu.force_flush(5) else []
    assert sorted(s.attributes["botanu.run_id"] for s in spans) == sorted(run_ids)
    assert sorted(s.attributes["botanu.event_id"] for s in spans) == [f"e{i}" for i in range(5)]
    # Runs made concurrently are siblings, not nested in each other.
    assert all("botanu.parent_run_id" not in s.attributes for s in spans)


def test_generator_decorator_covers_iteration_without_leaking(botanu_init, otlp_receiver):
    botanu_init()

    @botanu.event(workflow="Stream", event_id="e", customer_id="c")
    def produce():
        for i in range(3):
            with botanu.step(f"chunk-{i}"):
                pass
            yield i

    seen_outside = []
    for _item in produce():
        seen_outside.append(botanu.current_run())
    assert seen_outside == [None, None, None], "the run context must not leak to the consumer"
    spans = flush_and_get(otlp_receiver, 4)
    root = spans["botanu.run/Stream"]
    for i in range(3):
        assert spans[f"botanu.step/chunk-{i}"].parent_span_id == root.span_id
    assert root.attributes["botanu.outcome.status"] == "success"


def test_generator_exception_and_early_close(botanu_init, otlp_receiver):
    botanu_init()

    @botanu.event(workflow="Broken", event_id="e", customer_id="c")
    def broken():
        yield 1
        raise RuntimeError("stream broke")

    @botanu.event(workflow="Closed", event_id="e", customer_id="c")
    def endless():
        while True:
            yield 1

    with pytest.raises(RuntimeError):
        list(broken())
    gen = endless()
    next(gen)
    gen.close()
    spans = flush_and_get(otlp_receiver, 2)
    assert spans["botanu.run/Broken"].status_code == "ERROR"
    assert spans["botanu.run/Broken"].attributes["botanu.outcome.status"] == "failure"
    assert spans["botanu.run/Closed"].status_code == "UNSET"
    assert botanu.current_run() is None


def test_async_generator_decorator(botanu_init, otlp_receiver):
    botanu_init()

    @botanu.event(workflow="AStream", event_id="e", customer_id="c")
    async def tokens():
        for token in ("a", "b"):
            await asyncio.sleep(0)
            yield token, botanu.current_run().run_id

    async def consume():
        out = []
        async for token, run_id in tokens():
            out.append((token, run_id, botanu.current_run()))
        return out

    out = asyncio.run(consume())
    assert [t for t, _, _ in out] == ["a", "b"]
    assert len({run_id for _, run_id, _ in out}) == 1
    assert all(outside is None for _, _, outside in out)
    spans = flush_and_get(otlp_receiver, 1)
    assert spans["botanu.run/AStream"].attributes["botanu.run_id"] == out[0][1]


def test_span_kind_and_step_decorator(botanu_init, otlp_receiver):
    botanu_init()

    @botanu.step("load")
    def load():
        return botanu.current_run().step

    with botanu.event(event_id="e", customer_id="c", workflow="Batch", span_kind=SpanKind.CONSUMER):
        assert load() == "load"
    spans = flush_and_get(otlp_receiver, 2)
    assert spans["botanu.run/Batch"].kind == "CONSUMER"
    assert spans["botanu.step/load"].parent_span_id == spans["botanu.run/Batch"].span_id


def test_nested_run_records_parent_and_inherits_tenant(botanu_init, otlp_receiver):
    botanu_init()
    with botanu.event(event_id="outer", customer_id="c", workflow="Outer", tenant_id="acme") as outer:
        with botanu.step("delegate"):
            with botanu.event(event_id="inner", customer_id="c2", workflow="Inner") as inner:
                assert inner.parent_run_id == outer.run_id
                assert inner.step is None
        assert botanu.current_run().run_id == outer.run_id
    spans = flush_and_get(otlp_receiver, 3)
    inner_span = spans["botanu.run/Inner"]
    assert inner_span.attributes["botanu.parent_run_id"] == outer.run_id
    assert inner_span.attributes["botanu.tenant_id"] == "acme"
    assert inner_span.attributes["botanu.customer_id"] == "c2"
    assert inner_span.parent_span_id == spans["botanu.step/delegate"].span_id


def test_capture_input_forced_and_sampled(botanu_init, otlp_receiver):
    botanu_init(content_capture_rate=0.0)

    @botanu.event(workflow="Capture", event_id="e", customer_id="c", capture_input=True)
    def with_capture(question, limit=3, *, blob=b"xyz"):
        return None

    @botanu.event(workflow="NoCapture", event_id="e", customer_id="c")
    def without_capture(question):
        return None

    with_capture("where is my order?" + "x" * 5000, limit=5)
    without_capture("hello")
    spans = flush_and_get(otlp_receiver, 2)
    captured = spans["botanu.run/Capture"].attributes["botanu.input"]
    assert captured.startswith('{"question": "where is my order?')
    assert captured.endswith("...[truncated]")
    assert len(captured) <= 4096 + len("...[truncated]")
    assert "botanu.input" not in spans["botanu.run/NoCapture"].attributes


def test_capture_rate_one_captures_every_run(botanu_init, otlp_receiver):
    botanu_init(content_capture_rate=1.0)

    @botanu.event(workflow="Sampled", event_id="e", customer_id="c")
    def run(order, *, dry_run=False):
        return None

    run({"id": 7}, dry_run=True)
    spans = flush_and_get(otlp_receiver, 1)
    assert spans["botanu.run/Sampled"].attributes["botanu.input"] == '{"order": {"id": 7}, "dry_run": true}'

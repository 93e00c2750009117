"""The run context travels across threads, pools and tasks, and never leaks out of its run."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from opentelemetry import baggage, context, trace

import botanu


def test_no_leak_after_exit_or_exception(botanu_init):
    botanu_init()
    before = context.get_current()
    with botanu.event(event_id="e", customer_id="c", workflow="W"):
        with botanu.step("s"):
            assert baggage.get_baggage("botanu.step") == "s"
        assert baggage.get_baggage("botanu.step") is None
    with pytest.raises(RuntimeError), botanu.event(event_id="e", customer_id="c", workflow="W"):
        with botanu.step("s"):
            raise RuntimeError
    assert botanu.current_run() is None
    assert dict(baggage.get_all()) == {}
    assert context.get_current() == before
    assert not trace.get_current_span().get_span_context().is_valid


def test_threads_get_the_run_context(botanu_init):
    botanu_init(instrumentations=["threading"])
    seen = {}
    with botanu.event(event_id="e", customer_id="c", workflow="Threads") as run:
        with ThreadPoolExecutor(max_workers=2) as pool:
            seen["pool"] = pool.submit(lambda: botanu.current_run().run_id).result()
        thread = threading.Thread(target=lambda: seen.__setitem__("thread", botanu.current_run().run_id))
        thread.start()
        thread.join()
    assert seen == {"pool": run.run_id, "thread": run.run_id}


def test_concurrent_runs_in_threads_do_not_cross_talk(botanu_init, otlp_receiver):
    botanu_init(instrumentations=["threading"])
    results = {}
    barrier = threading.Barrier(8)

    def worker(n):
        with botanu.event(event_id=f"e{n}", customer_id=f"c{n}", workflow="Parallel") as run:
            barrier.wait()  # all runs are open at the same time
            with botanu.step("work"):
                current = botanu.current_run()
                results[n] = (run.run_id, current.run_id, current.customer_id)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({r[0] for r in results.values()}) == 8
    for n, (run_id, seen_id, customer) in results.items():
        assert run_id == seen_id and customer == f"c{n}"
    assert botanu.force_flush(5)
    spans = otlp_receiver.wait_for_spans(16)
    by_id = {s.span_id: s for s in spans}
    for span in spans:
        if span.name == "botanu.step/work":
            parent = by_id[span.parent_span_id]
            assert parent.attributes["botanu.run_id"] == span.attributes["botanu.run_id"]
            assert parent.attributes["botanu.customer_id"] == span.attributes["botanu.customer_id"]


def test_tasks_created_inside_a_run_inherit_it(botanu_init):
    botanu_init()

    async def child():
        await asyncio.sleep(0)
        return botanu.current_run().run_id

    async def main():
        async with botanu.event(event_id="e", customer_id="c", workflow="Tasks") as run:
            ids = await asyncio.gather(asyncio.create_task(child()), asyncio.create_task(child()))
        return run.run_id, ids, botanu.current_run()

    run_id, ids, after = asyncio.run(main())
    assert ids == [run_id, run_id]
    assert after is None


def test_user_spans_inside_a_run_are_stamped(botanu_init, otlp_receiver):
    botanu_init()
    tracer = trace.get_tracer("app")
    with botanu.event(event_id="e-7", customer_id="c-7", workflow="Stamp", tenant_id="t") as run:
        with botanu.step("lookup"):
            with tracer.start_as_current_span("db.query") as span:
                span.set_attribute("botanu.customer_id", "kept-as-set")
    with tracer.start_as_current_span("outside"):
        pass
    assert botanu.force_flush(5)
    spans = {s.name: s for s in otlp_receiver.wait_for_spans(4)}
    query = spans["db.query"].attributes
    assert query["botanu.run_id"] == run.run_id
    assert query["botanu.workflow"] == "Stamp"
    assert query["botanu.event_id"] == "e-7"
    assert query["botanu.tenant_id"] == "t"
    assert query["botanu.step"] == "lookup"
    # Only missing keys are added: what the span set itself is kept.
    assert query["botanu.customer_id"] == "kept-as-set"
    assert not any(k.startswith("botanu.") for k in spans["outside"].attributes)


def test_current_run_from_inbound_baggage():
    ctx = baggage.set_baggage("botanu.run_id", "0190-abc")
    ctx = baggage.set_baggage("botanu.workflow", "Upstream", ctx)
    ctx = baggage.set_baggage("botanu.customer_id", "c-1", ctx)
    token = context.attach(ctx)
    try:
        run = botanu.current_run()
        assert run is not None and not run.is_local
        assert (run.run_id, run.workflow, run.customer_id) == ("0190-abc", "Upstream", "c-1")
    finally:
        context.detach(token)
    assert botanu.current_run() is None


def test_run_ids_are_time_ordered_uuid7():
    from uuid import UUID

    from botanu.context._ids import uuid7

    ids = [uuid7() for _ in range(2000)]
    assert ids == sorted(ids)
    assert len(set(ids)) == 2000
    assert all(UUID(i).version == 7 for i in ids)


def test_run_ids_stay_ordered_when_the_clock_stalls_or_steps_back(monkeypatch):
    from uuid import UUID

    from botanu.context import _ids

    now = 1_750_000_000_123_456_789
    readings = iter([now, now, now, now - 5_000_000_000, now - 5_000_000_000, now + 1_000_000])
    monkeypatch.setattr(_ids, "time_ns", lambda: next(readings))
    monkeypatch.setattr(_ids, "_last_ns", 0)
    ids = [_ids.uuid7() for _ in range(6)]
    assert ids == sorted(ids) and len(set(ids)) == 6
    parsed = [UUID(i) for i in ids]
    assert all(u.version == 7 and u.variant == "specified in RFC 4122" for u in parsed)
    # The 48-bit millisecond field is the clock's, not a counter's, once the clock moves on.
    assert parsed[0].int >> 80 == now // 1_000_000
    assert parsed[-1].int >> 80 == (now + 1_000_000) // 1_000_000


def test_a_finished_run_is_freed_at_once_without_the_cyclic_gc(clean_botanu):
    """No reference cycles: a busy app would otherwise pay for GC passes over every run."""
    import gc
    import weakref

    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from botanu.context._tracing import reset_tracer

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    reset_tracer()

    @botanu.event(event_id="T-2", customer_id="c-2", workflow="Decorated")
    def decorated() -> list[weakref.ref]:
        with botanu.step("inner"):
            return [weakref.ref(trace.get_current_span())]

    gc.collect()
    gc.disable()
    try:
        refs: list[weakref.ref] = []
        scope = botanu.event(event_id="T-1", customer_id="c-1", workflow="Support")
        with scope:
            refs.append(weakref.ref(trace.get_current_span()))
            with botanu.step("retrieval"):
                refs.append(weakref.ref(trace.get_current_span()))
        refs += decorated()
        del scope
        assert len(exporter.get_finished_spans()) == 4
        assert [ref() for ref in refs] == [None, None, None]
        assert gc.collect() == 0
    finally:
        gc.enable()

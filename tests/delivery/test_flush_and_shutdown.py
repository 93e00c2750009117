"""force_flush tells the truth; shutdown is bounded and spools what it could not send, queue bounded."""

from __future__ import annotations

import random
import threading
import time

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanContext, TraceFlags

from botanu import _stats
from botanu.export import DeliveryProcessor
from tests.delivery._faults import endpoint_for, free_port
from tests.delivery.conftest import assert_accounted
from tests.support.otlp_receiver import Reply


def test_force_flush_is_false_after_spooling_and_true_after_a_clean_round(make_pipeline, otlp_receiver):
    otlp_receiver.script([Reply(400)])
    pipeline = make_pipeline(otlp_receiver.endpoint)
    pipeline.spans(2)
    assert pipeline.flush() is False
    pipeline.spans(2)
    assert pipeline.flush() is True
    assert pipeline.flush() is True, "an empty flush after a clean one"


def test_force_flush_honours_its_timeout_when_the_collector_hangs(make_pipeline, otlp_receiver):
    otlp_receiver.default = Reply(200, delay=3)
    pipeline = make_pipeline(otlp_receiver.endpoint, timeout=10)
    pipeline.spans(3)
    started = time.monotonic()
    assert pipeline.flush(0.5) is False
    assert time.monotonic() - started < 0.8


def test_shutdown_with_a_hanging_collector_is_bounded_and_spools_the_batch(make_pipeline, otlp_receiver):
    otlp_receiver.default = Reply(200, delay=3)
    pipeline = make_pipeline(otlp_receiver.endpoint, timeout=10)
    pipeline.spans(10)
    time.sleep(0.15)  # the worker has sent the batch and is waiting for the answer
    started = time.monotonic()
    pipeline.shutdown(1.0)
    assert time.monotonic() - started < 1.4
    snap = assert_accounted(pipeline.spool)
    assert (snap["spooled"], snap["in_memory"], snap["dropped_total"]) == (10, 0, 0)


def test_flush_then_shutdown_does_not_wait_twice_for_the_same_stuck_batch(make_pipeline, otlp_receiver):
    # botanu.shutdown() flushes and then shuts the processor down, each with the full budget.
    otlp_receiver.default = Reply(200, delay=3)
    pipeline = make_pipeline(otlp_receiver.endpoint, timeout=10)
    pipeline.spans(4)
    started = time.monotonic()
    assert pipeline.flush(1.0) is False
    pipeline.shutdown(1.0)
    assert time.monotonic() - started < 1.5
    assert assert_accounted(pipeline.spool)["spooled"] == 4


def test_shutdown_spools_the_queue_it_had_no_time_to_send(make_pipeline, otlp_receiver):
    otlp_receiver.default = Reply(200, delay=0.4)
    pipeline = make_pipeline(
        otlp_receiver.endpoint, max_queue_size=5000, max_export_batch_size=100, schedule_delay_millis=5000
    )
    pipeline.spans(1500)
    started = time.monotonic()
    pipeline.shutdown(0.8)
    assert time.monotonic() - started < 1.6
    snap = assert_accounted(pipeline.spool)
    assert snap["spooled"] > 1000, snap
    assert snap["exported"] + snap["spooled"] == 1500 and snap["dropped_total"] == 0, snap


def test_shutdown_with_no_budget_left_still_spools_the_queue(make_pipeline):
    pipeline = make_pipeline(endpoint_for(free_port()), schedule_delay_millis=5000)
    pipeline.spans(100)
    started = time.monotonic()
    pipeline.shutdown(0)
    assert time.monotonic() - started < 0.5
    snap = assert_accounted(pipeline.spool)
    assert snap["spooled"] == 100 and snap["dropped_total"] == 0, snap


def test_spans_after_shutdown_are_counted(make_pipeline, otlp_receiver):
    pipeline = make_pipeline(otlp_receiver.endpoint)
    pipeline.spans(2)
    pipeline.shutdown()
    pipeline.spans(3)
    snap = assert_accounted(pipeline.spool)
    assert snap["exported"] == 2 and snap["dropped"] == {"after_shutdown": 3}
    assert pipeline.processor.force_flush(100) is False


def test_a_full_queue_overflows_into_the_spool_not_the_floor(make_pipeline, otlp_receiver, caplog):
    otlp_receiver.default = Reply(200, delay=0.3)
    pipeline = make_pipeline(
        otlp_receiver.endpoint, replay=False, max_queue_size=20, max_export_batch_size=5, timeout=5
    )
    pipeline.spans(200)
    assert pipeline.flush(10) is False  # some went to the spool: not delivered yet
    snap = assert_accounted(pipeline.spool)
    assert snap["dropped"].get("queue_full", 0) == 0, snap
    assert snap["spooled"] > 0
    assert snap["exported"] + snap["spooled"] == 200


def test_full_queue_drops_are_counted_and_fail_the_flush(make_pipeline, otlp_receiver, caplog):
    otlp_receiver.default = Reply(200, delay=0.3)
    pipeline = make_pipeline(
        otlp_receiver.endpoint, spool=False, max_queue_size=20, max_export_batch_size=5, timeout=5
    )
    pipeline.spans(200)
    assert pipeline.flush(10) is False
    snap = assert_accounted(pipeline.spool)
    dropped = snap["dropped"].get("queue_full", 0)
    assert dropped > 100
    assert snap["exported"] + snap["spooled"] + dropped == 200
    assert sum("export queue is full" in r.getMessage() for r in caplog.records) == 1


def test_a_span_that_cannot_be_encoded_costs_only_itself(make_pipeline, otlp_receiver):
    pipeline = make_pipeline(otlp_receiver.endpoint)
    good = pipeline.spans(3)
    bad = ReadableSpan(name=b"\xff", context=SpanContext(1, 2, False, TraceFlags(TraceFlags.SAMPLED)))
    pipeline.processor.on_end(bad)
    assert pipeline.flush() is False
    assert sorted(s.span_id for s in otlp_receiver.spans()) == sorted(good)
    snap = assert_accounted(pipeline.spool)
    assert snap["exported"] == 3 and snap["dropped"] == {"encode_error": 1}


def test_unsampled_spans_are_not_queued(make_pipeline, otlp_receiver):
    pipeline = make_pipeline(otlp_receiver.endpoint)
    span = ReadableSpan(name="x", context=SpanContext(1, 2, False, TraceFlags(0)))
    pipeline.processor.on_end(span)
    assert pipeline.flush()
    assert _stats.snapshot()["spans_queued"] == 0


class FlakyExporter(SpanExporter):
    def __init__(self) -> None:
        self.calls = 0
        self.exported = InMemorySpanExporter()

    def export(self, spans):  # type: ignore[no-untyped-def]
        self.calls += 1
        if self.calls == 1:
            raise RuntimeError("exporter bug")
        if self.calls == 2:
            return SpanExportResult.FAILURE
        return self.exported.export(spans)


def test_any_span_exporter_works_and_its_bugs_do_not_stop_the_worker(clean_botanu):
    exporter = FlakyExporter()
    processor = DeliveryProcessor(exporter, schedule_delay_millis=20)
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(processor)
    tracer = provider.get_tracer("t")
    for batch in range(3):
        with tracer.start_as_current_span(f"s{batch}"):
            pass
        processor.force_flush(2000)
    assert [s.name for s in exporter.exported.get_finished_spans()] == ["s2"]
    snap = assert_accounted()
    assert snap["exported"] == 1 and snap["dropped"] == {"export_failed": 2}
    processor.shutdown()


def test_flush_without_a_worker_runs_in_the_callers_thread(make_pipeline, otlp_receiver):
    pipeline = make_pipeline(otlp_receiver.endpoint)
    pipeline.processor._stopping = True  # as at interpreter exit: no worker may start
    ids = pipeline.spans(3)
    assert pipeline.processor._worker is None
    assert pipeline.flush() is True
    assert sorted(s.span_id for s in otlp_receiver.spans()) == sorted(ids)


def test_conservation_holds_in_every_snapshot_while_the_collector_flaps(make_pipeline, otlp_receiver):
    rng = random.Random(5)
    otlp_receiver.script([Reply(rng.choice([200, 200, 503, 500])) for _ in range(400)])
    pipeline = make_pipeline(otlp_receiver.endpoint, max_queue_size=300, max_export_batch_size=20)
    stop = threading.Event()
    unbalanced: list[dict] = []

    def watch() -> None:
        while not stop.is_set():
            snap = _stats.snapshot()
            if not snap["balanced"]:
                unbalanced.append(snap)
            time.sleep(0.001)  # let the worker run on a 2-core machine

    def produce() -> None:
        for _ in range(10):
            pipeline.spans(60)
            time.sleep(0.02)

    watcher = threading.Thread(target=watch)
    producers = [threading.Thread(target=produce) for _ in range(3)]
    watcher.start()
    for thread in producers:
        thread.start()
    for thread in producers:
        thread.join()
    pipeline.flush(5)
    otlp_receiver.recover()
    # The flush may time out while a batch is still being retried; wait until nothing is
    # left in memory or in the spool, not just until the spool is empty.
    otlp_receiver.wait_for(lambda r: _stats.snapshot()["pending"] == 0, timeout=20)
    stop.set()
    watcher.join()
    assert not unbalanced, unbalanced[:1]
    snap = assert_accounted(pipeline.spool)
    assert snap["spans_queued"] == 1800 and snap["pending"] == 0
    delivered = {s.span_id for s in otlp_receiver.spans()}
    assert len(delivered) == snap["exported"] + snap["replayed"]
    assert snap["exported"] + snap["replayed"] + snap["dropped_total"] == 1800


def test_dead_endpoint_without_spool_counts_collector_unavailable(make_pipeline):
    pipeline = make_pipeline(endpoint_for(free_port()), spool=False)
    pipeline.spans(3)
    assert pipeline.flush() is False
    snap = assert_accounted()
    assert snap["dropped"] == {"collector_unavailable": 3}

"""A collector slower than the app, or silent: spans go to the spool, not to queue_full.

The worker sends one request at a time, so while the collector takes its time the
queue fills at the app's rate. These tests drive a steady load against such a
collector with a small queue and short timeouts, and check at the wire that no span
is dropped while the spool has room, that every span arrives exactly once when the
collector recovers, and that ``botanu.stats()`` balances in every snapshot meanwhile.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

from botanu import _stats
from tests.delivery.conftest import Pipeline, assert_accounted
from tests.delivery.test_wire_faults import spooled_span_ids
from tests.support.otlp_receiver import OTLPReceiver, Reply

# The app's load: RATE spans per second for SECONDS, into a queue far smaller than the load.
RATE = 500
SECONDS = 3.0
QUEUE = dict(max_queue_size=1024, max_export_batch_size=64)


class BalanceWatch:
    """Samples ``botanu.stats()`` on a thread; keeps every snapshot that did not balance."""

    def __init__(self) -> None:
        self.samples = 0
        self.unbalanced: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._stop.wait(0.005):
            snap = _stats.snapshot()
            self.samples += 1
            if not snap["balanced"] or min(snap["in_memory"], snap["spool_pending"]) < 0:
                self.unbalanced.append(snap)

    def stop(self) -> BalanceWatch:
        self._stop.set()
        self._thread.join()
        return self


def steady_load(pipeline: Pipeline, rate: int = RATE, seconds: float = SECONDS) -> list[str]:
    """End ``rate`` spans a second for ``seconds`` on this (the app's) thread; return their ids."""
    ids: list[str] = []
    tick = 0.02
    started = time.monotonic()
    for step in range(int(seconds / tick)):
        ids += pipeline.spans(int(rate * tick), prefix=f"load{step}")
        time.sleep(max(0.0, started + (step + 1) * tick - time.monotonic()))
    # The app kept its pace: ending a span never waited for the collector.
    assert time.monotonic() - started < seconds + 1.0
    return ids


def wait_until_delivered(receiver: OTLPReceiver, ids: list[str], timeout: float = 15.0) -> Counter[str]:
    """Wait until every span id arrived and nothing is pending; return how often each arrived."""
    wanted = set(ids)
    assert receiver.wait_for(lambda r: wanted <= {s.span_id for s in r.spans()}, timeout)
    deadline = time.monotonic() + timeout
    while _stats.snapshot()["pending"] and time.monotonic() < deadline:
        time.sleep(0.02)
    return Counter(span.span_id for span in receiver.spans())


def recovers_and_delivers_each_span_once(
    receiver: OTLPReceiver, pipeline: Pipeline, ids: list[str], watch: BalanceWatch
) -> None:
    """The collector recovers: every span arrives exactly once, and the books balanced throughout."""
    receiver.recover()
    received = wait_until_delivered(receiver, ids)
    watch.stop()
    assert set(received) == set(ids) and max(received.values()) == 1, "every span exactly once"
    assert watch.samples > 100 and watch.unbalanced == [], watch.unbalanced[:1]
    snap = assert_accounted(pipeline.spool)
    assert snap["dropped"] == {} and snap["pending"] == 0
    assert snap["exported"] + snap["replayed"] == len(ids)


def test_a_slow_collector_costs_disk_writes_not_dropped_spans(make_pipeline, otlp_receiver):
    # One request per second takes 64 spans: a tenth of the app's rate.
    otlp_receiver.default = Reply(200, delay=1.0)
    pipeline = make_pipeline(otlp_receiver.endpoint, timeout=5, **QUEUE)
    watch = BalanceWatch()
    ids = steady_load(pipeline)
    during = assert_accounted()
    assert during["dropped"] == {}, "no queue_full while the spool has room"
    assert during["spooled"] > len(ids) // 2, "the overflow went to the spool"

    recovers_and_delivers_each_span_once(otlp_receiver, pipeline, ids, watch)
    assert pipeline.spool.files() == []
    assert pipeline.flush() is False, "spooled is not delivered"
    assert pipeline.flush() is True


def test_a_silent_collector_costs_disk_writes_not_dropped_spans(make_pipeline, otlp_receiver):
    # Reads each request, then closes the connection without an answer after 3.5 s; botanu gives
    # up after 2.5 s. Every probe (the worker's and the replayer's) blocks for that long, while
    # the app ends more spans than the queue holds.
    otlp_receiver.default = Reply(200, delay=3.5, drop=True)
    pipeline = make_pipeline(otlp_receiver.endpoint, timeout=2.5, **QUEUE)
    watch = BalanceWatch()
    ids = steady_load(pipeline)
    during = assert_accounted()
    assert during["dropped"] == {}, "no queue_full while the spool has room"
    assert during["exported"] == 0 and during["spooled"] > len(ids) // 2
    assert otlp_receiver.accepted() == []

    # The unanswered requests were never accepted, so nothing arrives twice.
    recovers_and_delivers_each_span_once(otlp_receiver, pipeline, ids, watch)


def test_shutdown_while_spilling_is_bounded_and_loses_nothing(make_pipeline, otlp_receiver):
    otlp_receiver.default = Reply(200, delay=3.0, drop=True)
    pipeline = make_pipeline(otlp_receiver.endpoint, timeout=2, replay=False, **QUEUE)
    ids = steady_load(pipeline, seconds=1.5)
    assert assert_accounted()["spooled"] > 0, "spilling while the worker waits for its first answer"
    started = time.monotonic()
    pipeline.shutdown(1.0)
    assert time.monotonic() - started < 1.0 + 0.25 + 0.3, "the exit budget plus the spool grace"
    # Everything queued, in flight or being spilled is now on disk, once.
    on_disk = spooled_span_ids(pipeline.spool)
    assert sorted(on_disk) == sorted(ids)
    snap = assert_accounted(pipeline.spool)
    assert snap["in_memory"] == 0 and snap["dropped"] == {} and snap["spooled"] == len(ids)


def test_a_healthy_collector_spools_nothing_even_when_the_queue_is_nearly_full(make_pipeline, otlp_receiver):
    pipeline = make_pipeline(otlp_receiver.endpoint, **QUEUE)
    ids = pipeline.spans(1000)  # at once: far past the pressure mark, but the worker keeps going
    assert pipeline.flush() is True
    assert sorted(s.span_id for s in otlp_receiver.spans()) == sorted(ids)
    snap = assert_accounted(pipeline.spool)
    assert snap["spooled"] == 0 and snap["exported"] == len(ids)


def test_a_spool_that_refuses_writes_leaves_the_spans_queued_for_the_collector(
    make_pipeline, otlp_receiver, tmp_path
):
    # A read-only spool (here: its path runs through a regular file) and a slow, healthy collector:
    # a burst that fits in the queue must wait there, not be spilled into drops.
    blocker = tmp_path / "not_a_directory"
    blocker.write_text("x")
    otlp_receiver.default = Reply(200, delay=1.0)
    pipeline = make_pipeline(
        otlp_receiver.endpoint, spool_dir=blocker / "spool", max_queue_size=2048, max_export_batch_size=512
    )
    ids = pipeline.spans(1600)
    assert pipeline.flush(15) is True
    assert sorted(s.span_id for s in otlp_receiver.spans()) == sorted(ids)
    snap = assert_accounted()
    assert snap["dropped"] == {} and snap["exported"] == len(ids)

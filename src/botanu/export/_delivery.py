"""DeliveryProcessor: batching with a truthful flush, a bounded exit, and no silent losses.

It does what the stock ``BatchSpanProcessor`` does (a bounded queue drained in
batches by a background thread, ``OTEL_BSP_*`` settings honoured) and closes its
gaps:

* ``force_flush(timeout)`` returns True only if every span ended before the call
  was delivered and nothing failed, was spooled or was dropped since the
  previous successful flush; it honours its timeout;
* ``shutdown(timeout)`` is bounded: when time runs out, the spans still queued
  or in flight are written to the spool (encoded, no network) instead of lost;
* a slow or silent collector costs disk writes, not dropped spans: while the
  worker is stuck in an export and the queue is over half full, a second thread
  moves the oldest queued spans to the spool (see :meth:`DeliveryProcessor._spill`);
* every span is accounted for in :mod:`botanu._stats`: queued, then exported,
  spooled or dropped with a reason (queue full, after shutdown, ...);
* fork-safe: a child starts with an empty queue (the parent's spans are the
  parent's to send) and its own worker, started when it first ends a span; in
  forked workers ``os._exit`` flushes first (see :mod:`botanu.export._fork`);
* the worker survives exporter bugs, and when it is gone (after fork, at
  interpreter exit) flushes run in the caller's thread instead.

Why not wrap the stock processor: its queue is private and silently drops the
oldest spans, its flush ignores its timeout, and at shutdown the spans left in
its queue cannot be reached to be spooled.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from botanu import _stats
from botanu._safety import report_internal, warn_once
from botanu.export._fork import after_fork_in_child, flush_before_os_exit
from botanu.export._outcome import Outcome
from botanu.export._replay import Replayer

logger = logging.getLogger("botanu")

_WAIT_SLICE = 0.05
# Part of the shutdown budget kept for writing what is left to the spool...
_MAX_SPOOL_RESERVE = 0.5
# ...and the least time spooling gets, even when the caller left no budget: a quarter of a
# second of local writes saves spans that would otherwise be lost at exit.
_MIN_SPOOL_GRACE = 0.25
# An export running longer than this is waiting on a slow or silent collector (a healthy one
# answers a batch well within it): queued spans are then spilled to the spool, not kept waiting.
_STUCK_AFTER = 0.5
# Why a spool may refuse a batch: spilled spans it refuses go back to the queue instead.
_SPOOL_REFUSALS = frozenset({"spool_unwritable", "spool_full"})


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value <= 0:
        warn_once(("bsp-env", name), "botanu: %s=%r is not a positive integer; using %d", name, raw, default)
        return default
    return value


def _seconds(timeout_millis: object, default: float) -> float:
    """Milliseconds to seconds; anything unusable (None, negative, NaN) means the default."""
    if isinstance(timeout_millis, (int, float)) and not isinstance(timeout_millis, bool):
        seconds = float(timeout_millis) / 1000.0
        if seconds >= 0:  # False for NaN
            return min(seconds, threading.TIMEOUT_MAX / 2)
    return default


class _Batch:
    """Spans taken from the queue together; whoever settles them first owns them."""

    __slots__ = ("owner", "spans")

    def __init__(self, spans: list[ReadableSpan]) -> None:
        self.spans = spans
        self.owner: str | None = None


class DeliveryProcessor(SpanProcessor):
    """Batch, export and account for spans; see the module docstring.

    Args:
        exporter: botanu's :class:`~botanu.export.OTLPHttpSpanExporter` (spooling,
            deadlines) or any ``SpanExporter``.
        max_queue_size: Spans held while waiting for export (``OTEL_BSP_MAX_QUEUE_SIZE``, 2048).
        schedule_delay_millis: Longest wait before a partial batch is sent
            (``OTEL_BSP_SCHEDULE_DELAY``, 5000).
        max_export_batch_size: Spans per request (``OTEL_BSP_MAX_EXPORT_BATCH_SIZE``, 512).
        exit_timeout: Seconds allowed for the flush at exit and in ``shutdown()``
            without a timeout.
        replayer: The spool's replayer, stopped on shutdown.
        ledger: The books it keeps (:data:`botanu._stats.spans`, or ``logs`` for log records).
        thread_name: Its worker thread's name (the spiller's is derived from it).
    """

    def __init__(
        self,
        exporter: SpanExporter,
        *,
        max_queue_size: int | None = None,
        schedule_delay_millis: float | None = None,
        max_export_batch_size: int | None = None,
        exit_timeout: float = 5.0,
        replayer: Replayer | None = None,
        ledger: _stats.Ledger | None = None,
        thread_name: str = "botanu-export",
    ) -> None:
        self.exporter = exporter
        self._ledger = ledger or _stats.spans
        self._thread_name = thread_name
        self.replayer = replayer
        self.exit_timeout = exit_timeout
        self._max_queue = max_queue_size or env_int("OTEL_BSP_MAX_QUEUE_SIZE", 2048)
        delay_ms = schedule_delay_millis or env_int("OTEL_BSP_SCHEDULE_DELAY", 5000)
        self._delay = max(0.001, delay_ms / 1000.0)
        self._batch_size = min(
            max_export_batch_size or env_int("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", 512), self._max_queue
        )
        # Queue pressure: past this, a batch stuck in retries goes to the spool at once, and while
        # the worker is stuck in an export the oldest queued spans are spilled to the spool.
        self._pressure_mark = max(self._batch_size, self._max_queue // 2)
        # Spilling needs botanu's exporter with a spool to write to.
        self._can_spill = getattr(exporter, "spool", None) is not None and hasattr(exporter, "spool_spans")
        # With a spool, a full queue overflows into this much more memory while the spiller moves
        # the oldest items to disk: a burst costs disk writes (on the spiller's thread), not drops.
        self._overflow_cap = self._max_queue * 2 if self._can_spill else self._max_queue
        self._closed = False
        self._queue: deque[ReadableSpan] = deque()
        self._init_process_state()
        after_fork_in_child(self._after_fork_in_child)
        flush_before_os_exit(self)

    def _init_process_state(self) -> None:
        self._wake = threading.Event()
        self._pressure = threading.Event()
        self._settled_changed = threading.Condition(threading.Lock())
        self._start_lock = threading.Lock()
        self._worker: threading.Thread | None = None
        self._spiller: threading.Thread | None = None
        self._stopping = False
        self._halted = False
        self._in_flight: _Batch | None = None
        self._in_flight_since = 0.0
        self._stuck: _Batch | None = None
        self._accepted = 0
        self._settled = 0
        self._failures = 0

    def _after_fork_in_child(self) -> None:
        # The parent's queued and in-flight spans are the parent's to deliver.
        self._queue = deque()
        self._init_process_state()

    # ------------------------------------------------------------------ SpanProcessor

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        pass

    def on_end(self, span: ReadableSpan) -> None:
        try:
            context = span.context
            if context is None or not context.trace_flags.sampled:
                return
        except Exception:  # span.end() must never raise because of botanu
            report_internal("queueing a span for export")
            return
        self.offer(span)

    def offer(self, item: ReadableSpan) -> None:
        """Queue one item (a span, or a log record in the log pipeline) for export; never raises."""
        try:
            ledger = self._ledger
            with _stats.lock:
                if self._closed:
                    ledger.refused_locked("after_shutdown")
                    return
                queue = self._queue
                if len(queue) >= self._max_queue and (
                    len(queue) >= self._overflow_cap or not self.exporter.spool.accepting()  # type: ignore[attr-defined]
                ):
                    size = -1
                else:
                    queue.append(item)
                    tally = ledger.tally  # ledger.queued_locked(), inlined on the hot path
                    tally.queued += 1
                    tally.in_memory += 1
                    self._accepted += 1
                    size = len(queue)
            if size < 0 and self._can_spill and self._spill_chunk(urgent_only=False):
                # The margin is full too: the app's own thread moves the oldest chunk to the spool
                # (a bounded, local write, measured by bench_burst.py), then queues its item.
                with _stats.lock:
                    if not self._closed:
                        self._queue.append(item)
                        tally = ledger.tally
                        tally.queued += 1
                        tally.in_memory += 1
                        self._accepted += 1
                        size = len(self._queue)
                    else:
                        ledger.refused_locked("after_shutdown")
                        return
            if size < 0:
                with _stats.lock:
                    ledger.refused_locked("queue_full")
                    self._failures += 1
                self._pressure.set()
                warn_once(
                    ("queue-full", id(self)),
                    "botanu: the export queue is full (%d %ss); they are dropped until it drains "
                    "(counted in botanu.stats())",
                    self._max_queue,
                    ledger.noun,
                )
            elif size >= self._batch_size:
                if size >= self._pressure_mark:
                    self._pressure.set()
                    if self._spiller is None and self._can_spill:  # the first time only
                        self._start_spiller()
                if not self._wake.is_set():
                    self._wake.set()
            if self._worker is None:
                self._start_worker()
        except Exception:  # span.end() and logging calls must never raise because of botanu
            report_internal("queueing an item for export")

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Export what is queued; True only if all was delivered and nothing failed since the last flush."""
        if self._closed:
            return False
        deadline = time.monotonic() + _seconds(timeout_millis, 30.0)
        done = self._flush_until(deadline)
        with _stats.lock:
            if not done:
                self._stuck = self._in_flight
                return False
            clean = self._failures == 0
            self._failures = 0
        return clean

    def shutdown(self, timeout_millis: float | None = None) -> None:  # type: ignore[override]
        """Flush within the timeout (default ``exit_timeout``), spool what is left, stop."""
        with _stats.lock:
            if self._closed:
                return
            self._closed = True
        timeout = _seconds(timeout_millis, self.exit_timeout)
        deadline = time.monotonic() + timeout
        begin_exit = getattr(self.exporter, "begin_exit", None)  # botanu's exporter has it
        if begin_exit is not None:
            begin_exit()
        reserve = min(_MAX_SPOOL_RESERVE, timeout * 0.25)
        # A batch a previous flush already waited for in vain is not waited for again.
        stuck = self._stuck is not None and self._stuck is self._in_flight
        if stuck or not self._flush_until(deadline - reserve):
            self._take_over(max(deadline, time.monotonic() + _MIN_SPOOL_GRACE))
        self._stopping = True
        self._wake.set()
        self._pressure.set()  # wakes the spiller, which then ends
        if self.replayer is not None:
            self.replayer.stop()
        try:
            self.exporter.shutdown()
        except Exception:
            report_internal("shutting down the exporter")

    def flush_before_exit(self) -> None:
        """Called on the way out of a forked worker (``os._exit``): a bounded shutdown."""
        if not self._closed:
            self.shutdown(self.exit_timeout * 1000)

    # ------------------------------------------------------------------ the worker

    def _start_worker(self) -> None:
        self._start_thread("_worker", self._work, self._thread_name)

    def _start_spiller(self) -> None:
        # Started the first time the queue is half full, so most processes never have this thread.
        self._start_thread("_spiller", self._spill_loop, self._thread_name.replace("export", "spill"))

    def _start_thread(self, slot: str, target: Callable[[], None], name: str) -> None:
        with self._start_lock:
            if getattr(self, slot) is not None or self._stopping:
                return
            thread = threading.Thread(target=target, name=name, daemon=True)
            try:
                thread.start()
            except RuntimeError:  # interpreter shutting down: flushes run inline instead
                return
            setattr(self, slot, thread)

    def _work(self) -> None:
        while not self._stopping:
            try:
                self._wake.wait(self._delay)
                self._wake.clear()
                self._drain()
            except Exception:  # an exporter bug must not end exporting for the rest of the process
                report_internal("exporting spans")
                time.sleep(self._delay)

    def _drain(self) -> None:
        """Export batches until the queue is empty (or a shutdown took over)."""
        while True:
            with _stats.lock:
                queue = self._queue
                if self._halted or not queue:
                    return
                batch = _Batch([queue.popleft() for _ in range(min(self._batch_size, len(queue)))])
                self._in_flight = batch
                self._in_flight_since = time.monotonic()
                if len(queue) < self._pressure_mark:
                    self._pressure.clear()
            outcome = self._export(batch)
            with _stats.lock:
                if self._in_flight is batch:
                    self._in_flight = None
                if outcome is not None:  # None: a shutdown took the batch over and settled it
                    self._settle_locked(len(batch.spans), outcome)
            with self._settled_changed:
                self._settled_changed.notify_all()

    def _settle_locked(self, size: int, outcome: Outcome) -> None:
        """``size`` spans taken from the queue met ``outcome`` (caller holds ``_stats.lock``)."""
        self._ledger.settled_locked(size, outcome.exported, outcome.spooled, outcome.dropped)
        self._failures += size - outcome.exported
        self._settled += size

    # ------------------------------------------------------------------ spilling to the spool

    def _spill_loop(self) -> None:
        """The spiller's thread: asleep until the queue passes the pressure mark."""
        while not self._stopping:
            try:
                self._pressure.wait()
                if self._stopping:
                    return
                if not self._spill():
                    # Pressure, but the worker is keeping up (or not stuck long enough yet): look
                    # again shortly. This polling lasts only while the queue is over half full.
                    time.sleep(_WAIT_SLICE)
            except Exception:  # a bug here must not end spilling for the rest of the process
                report_internal("spooling queued spans")
                time.sleep(self._delay)

    def _spill(self) -> bool:
        """Move the oldest queued spans to the spool while the worker is stuck; True if any moved.

        The worker sends one request at a time; while a collector is slow or silent it waits up
        to ``export_timeout`` per request, far longer than the queue can absorb the app's spans.
        Spilled spans are encoded as OTLP, counted ``spooled`` and replayed later like any
        spooled batch; this thread does only local work, so it never waits on the collector.
        """
        spilled = False
        while self._spill_chunk(urgent_only=True):
            spilled = True
        return spilled

    def _spill_chunk(self, *, urgent_only: bool) -> bool:
        """Move the oldest ``batch_size`` queued items to the spool; True if they went.

        ``urgent_only`` (the spiller): only while the worker is stuck in an export or the queue
        has overflowed its size (a burst faster than any export), and while the queue is over
        the pressure mark. Otherwise (the app's thread, when even the overflow margin is full)
        one chunk goes whatever the state.
        """
        spool = getattr(self.exporter, "spool", None)
        if spool is not None and not spool.accepting():
            # A spool that refuses writes would turn spilled spans into drops: they are better
            # off waiting in the queue for the collector, as without spilling.
            return False
        with _stats.lock:
            queue = self._queue
            if urgent_only:
                stuck = (
                    self._in_flight is not None and time.monotonic() - self._in_flight_since >= _STUCK_AFTER
                )
                urgent = stuck or len(queue) >= self._max_queue
                if self._halted or len(queue) < self._pressure_mark or not urgent:
                    if len(queue) < self._pressure_mark:
                        self._pressure.clear()
                    return False
            elif self._halted or not queue:
                return False
            chunk = [queue.popleft() for _ in range(min(self._batch_size, len(queue)))]
        try:
            outcome = self.exporter.spool_spans(chunk)  # type: ignore[attr-defined]
        except Exception:  # the spans must be settled either way, or flushes would wait forever
            report_internal("spooling queued spans")
            outcome = Outcome.lost(len(chunk), "export_failed")
        with _stats.lock:
            if not outcome.spooled and set(outcome.dropped) <= _SPOOL_REFUSALS and not self._halted:
                # The spool refused them (unwritable, full): back to the front of the queue, to
                # wait for the collector as they would have without spilling.
                self._queue.extendleft(reversed(chunk))
                return False
            self._settle_locked(len(chunk), outcome)
        with self._settled_changed:
            self._settled_changed.notify_all()
        return True

    def _export(self, batch: _Batch) -> Outcome | None:
        exporter = self.exporter
        attempt = getattr(exporter, "attempt", None)
        if attempt is not None:
            try:
                sent = attempt(batch.spans, hurry=self._pressure)
                return exporter.conclude(sent) if self._own(batch) else None  # type: ignore[attr-defined]
            except Exception:  # a bug must not leave the batch unsettled (flushes would wait forever)
                report_internal("the OTLP exporter")
                return Outcome.lost(len(batch.spans), "export_failed") if self._own(batch) else None
        try:
            result = exporter.export(batch.spans)
        except Exception:
            report_internal("the span exporter")
            result = SpanExportResult.FAILURE
        if not self._own(batch):
            return None
        size = len(batch.spans)
        return (
            Outcome(size, exported=size)
            if result == SpanExportResult.SUCCESS
            else Outcome.lost(size, "export_failed")
        )

    def _own(self, batch: _Batch, who: str = "worker") -> bool:
        with _stats.lock:
            if batch.owner is None:
                batch.owner = who
            return batch.owner == who

    # ------------------------------------------------------------------ flush and exit

    def _flush_until(self, deadline: float) -> bool:
        """Wait until every span accepted so far is settled, or ``deadline``; True if all were."""
        with _stats.lock:
            target = self._accepted
        if self._settled >= target:
            return True
        set_deadline = getattr(self.exporter, "set_deadline", None)
        if set_deadline is not None:
            set_deadline(deadline)
        try:
            worker = self._worker
            if worker is not None and worker.is_alive():
                self._wake.set()
                with self._settled_changed:
                    while self._settled < target:
                        remaining = deadline - time.monotonic()
                        if remaining <= 0:
                            return False
                        self._settled_changed.wait(min(remaining, _WAIT_SLICE))
                return True
            # No worker (not started yet, gone after fork or at exit): drain in this thread,
            # bounded by the exporter's deadline.
            self._drain()
            return self._settled >= target
        finally:
            if set_deadline is not None:
                set_deadline(None)

    def _take_over(self, hard_deadline: float) -> None:
        """Time is up: spool (or count as lost) everything queued or in flight."""
        with _stats.lock:
            self._halted = True
            leftovers: list[ReadableSpan] = []
            batch = self._in_flight
            if batch is not None and batch.owner is None:
                batch.owner = "shutdown"
                leftovers.extend(batch.spans)
            leftovers.extend(self._queue)
            self._queue.clear()
        self._pressure.set()
        set_deadline = getattr(self.exporter, "set_deadline", None)
        if set_deadline is not None:
            set_deadline(time.monotonic())  # the worker's retries end now
        spool_spans = getattr(self.exporter, "spool_spans", None)
        for start in range(0, len(leftovers), self._batch_size):
            chunk: Sequence[ReadableSpan] = leftovers[start : start + self._batch_size]
            if spool_spans is not None and time.monotonic() < hard_deadline:
                try:
                    outcome = spool_spans(chunk)
                except Exception:
                    report_internal("spooling spans at shutdown")
                    outcome = Outcome.lost(len(chunk), "shutdown_timeout")
            else:
                outcome = Outcome.lost(len(chunk), "shutdown_timeout")
            with _stats.lock:
                self._settle_locked(len(chunk), outcome)
        with self._settled_changed:
            self._settled_changed.notify_all()
            # A batch the worker or the spiller is writing to the spool right now is theirs to
            # settle: give that local write the rest of the budget, so the exit summary is exact.
            while self._settled < self._accepted:
                remaining = hard_deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._settled_changed.wait(min(remaining, _WAIT_SLICE))

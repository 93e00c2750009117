"""DeliveryProcessor: a BatchSpanProcessor whose flush tells the truth and whose exit is bounded.

The stock ``BatchSpanProcessor.force_flush`` returns True even when every export
failed, ignores its timeout, and ``shutdown`` may wait 30 s for a dead
collector. This wrapper keeps the stock batching and adds:

* ``force_flush(timeout)`` returns True only if every span ended before the call
  was delivered and nothing failed or was dropped since the previous flush;
* flush and shutdown are bounded by their timeout (the exporter's retries are cut
  short by a deadline, and the wait itself is bounded);
* spans the queue had to drop are counted.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

from botanu import _stats


class _CountingExporter:
    """Counts what the batch processor hands to the exporter and how it went."""

    def __init__(self, exporter: SpanExporter) -> None:
        self.inner = exporter
        self.handed = 0
        self.failed = 0
        self._lock = threading.Lock()

    def export(self, spans):  # type: ignore[no-untyped-def]
        result = self.inner.export(spans)
        with self._lock:
            self.handed += len(spans)
            if result.name != "SUCCESS":
                self.failed += len(spans)
        return result

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def _bounded(fn: Callable[[], object], timeout: float) -> tuple[bool, object]:
    """Run ``fn`` on a helper thread and wait at most ``timeout`` seconds for it."""
    outcome: list[object] = []

    def target() -> None:
        try:
            outcome.append(fn())
        except Exception as error:  # reported through the result, never raised to the app
            outcome.append(error)

    thread = threading.Thread(target=target, name="botanu-flush", daemon=True)
    thread.start()
    thread.join(max(0.0, timeout))
    if thread.is_alive() or not outcome:
        return False, None
    return not isinstance(outcome[0], Exception), outcome[0]


class DeliveryProcessor(SpanProcessor):
    """Batch, export and account for spans; see the module docstring."""

    def __init__(
        self,
        exporter: SpanExporter,
        *,
        max_queue_size: int | None = None,
        schedule_delay_millis: float | None = None,
        max_export_batch_size: int | None = None,
    ) -> None:
        self.exporter = exporter
        self._counting = _CountingExporter(exporter)
        self._batch = BatchSpanProcessor(
            self._counting,  # type: ignore[arg-type]
            max_queue_size=max_queue_size,
            schedule_delay_millis=schedule_delay_millis,
            max_export_batch_size=max_export_batch_size,
        )
        self._ended = 0
        self._lock = threading.Lock()
        self._flushed_failures = 0
        self._flushed_drops = 0
        self._is_shutdown = False

    def _set_deadline(self, deadline: float | None) -> None:
        # Exporters that support deadlines (botanu's OTLP exporter) cut their retries short.
        set_deadline = getattr(self.exporter, "set_deadline", None)
        if set_deadline is not None:
            set_deadline(deadline)

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        pass

    def on_end(self, span: ReadableSpan) -> None:
        if self._is_shutdown:
            _stats.drop("after_shutdown")
            return
        if not (span.context and span.context.trace_flags.sampled):
            return
        with self._lock:
            self._ended += 1
        self._batch.on_end(span)

    @property
    def spans_queued(self) -> int:
        """Spans handed to this processor for export so far."""
        return self._ended

    def _account_queue_drops(self, ended_before: int) -> int:
        """After a complete flush, spans ended before it that never reached the exporter were dropped."""
        dropped = max(0, ended_before - self._counting.handed)
        with self._lock:
            new = dropped - self._flushed_drops
            if new > 0:
                self._flushed_drops = dropped
                _stats.drop("queue_full", new)
        return max(0, new)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        if self._is_shutdown:
            return False
        timeout = timeout_millis / 1000.0
        with self._lock:
            ended_before = self._ended
        self._set_deadline(time.monotonic() + timeout)
        try:
            finished, _ = _bounded(self._batch.force_flush, timeout)
        finally:
            self._set_deadline(None)
        if not finished:
            return False
        new_drops = self._account_queue_drops(ended_before)
        with self._lock:
            failed = self._counting.failed
            new_failures = failed - self._flushed_failures
            self._flushed_failures = failed
        return new_failures == 0 and new_drops == 0

    def shutdown(self, timeout_millis: int = 5000) -> None:  # type: ignore[override]
        if self._is_shutdown:
            return
        timeout = timeout_millis / 1000.0
        with self._lock:
            ended_before = self._ended
        self._set_deadline(time.monotonic() + timeout)
        finished, _ = _bounded(self._batch.shutdown, timeout)
        self._is_shutdown = True
        _stats.add("spans_queued", self._ended)  # live processors report theirs through spans_queued
        if finished:
            self._account_queue_drops(ended_before)
        else:
            unsent = max(0, ended_before - self._counting.handed)
            if unsent:
                _stats.drop("shutdown_timeout", unsent)
        self.exporter.shutdown()

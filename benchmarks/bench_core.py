"""App-thread cost of ``botanu.event`` + ``botanu.step`` versus the bare OpenTelemetry SDK.

Both sides run in this one process, interleaved round by round, each with a real
SDK TracerProvider and a BatchSpanProcessor whose exporter discards batches:

* bare:   two nested ``start_as_current_span`` calls carrying the same attributes
          botanu puts on its run and step spans;
* botanu: ``with botanu.event(...): with botanu.step(...)`` through botanu's full
          pipeline (run enricher, redaction wrapper, delivery processor).

Prints microseconds per iteration (fastest round of each side) and the ratio (target: <= 1.15).
Usage: ``python benchmarks/bench_core.py [--iterations N] [--rounds R]``.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import time
from collections.abc import Callable, Sequence

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import SpanKind

import botanu
from botanu._config import resolve_settings
from botanu._pipeline import build_processors
from botanu._tracing import reset_tracer


class NullExporter(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


RUN_ATTRIBUTES = {
    "botanu.run_id": "0192f0e4-7a1b-7c3d-8e9f-0a1b2c3d4e5f",
    "botanu.workflow": "Support",
    "botanu.event_id": "T-1001",
    "botanu.customer_id": "cus_42",
}
STEP_ATTRIBUTES = {"botanu.step": "retrieval", **RUN_ATTRIBUTES}


def bare_workload(tracer: trace.Tracer) -> Callable[[], None]:
    def run() -> None:
        with tracer.start_as_current_span(
            "botanu.run/Support", kind=SpanKind.SERVER, attributes=RUN_ATTRIBUTES
        ):
            with tracer.start_as_current_span("botanu.step/retrieval", attributes=STEP_ATTRIBUTES):
                pass

    return run


def botanu_workload() -> None:
    with botanu.event(event_id="T-1001", customer_id="cus_42", workflow="Support"):
        with botanu.step("retrieval"):
            pass


def time_per_call(fn: Callable[[], None], iterations: int) -> float:
    gc.collect()
    start = time.perf_counter()
    for _ in range(iterations):
        fn()
    return (time.perf_counter() - start) / iterations * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=21)
    args = parser.parse_args()
    # A queue big enough that neither side drops spans (and logs about it) while measuring.
    os.environ["OTEL_BSP_MAX_QUEUE_SIZE"] = str(args.iterations * 4)

    bare_provider = TracerProvider()
    bare_provider.add_span_processor(BatchSpanProcessor(NullExporter()))
    bare = bare_workload(bare_provider.get_tracer("bench"))

    botanu_provider = TracerProvider()
    processors = build_processors(resolve_settings({}), exporter=NullExporter())
    for processor in processors.all():
        botanu_provider.add_span_processor(processor)
    trace.set_tracer_provider(botanu_provider)
    reset_tracer()

    for fn in (bare, botanu_workload):  # warm up caches and the batch workers
        time_per_call(fn, 2000)
    bare_times, botanu_times = [], []
    for _ in range(args.rounds):
        bare_times.append(time_per_call(bare, args.iterations))
        botanu_times.append(time_per_call(botanu_workload, args.iterations))
    # The fastest round of each side is the one least disturbed by other work on the machine
    # (the batch workers' export threads included), so the ratio compares like with like.
    bare_us, botanu_us = min(bare_times), min(botanu_times)
    print(
        f"bare SDK, run + step spans:   {bare_us:7.2f} us/iteration (fastest of {args.rounds} rounds;"
        f" medians {statistics.median(bare_times):.2f} / {statistics.median(botanu_times):.2f})"
    )
    print(f"botanu event + step:          {botanu_us:7.2f} us/iteration")
    print(f"ratio botanu / bare:          {botanu_us / bare_us:7.3f}  (target <= 1.15)")
    processors.export.shutdown()


if __name__ == "__main__":
    main()

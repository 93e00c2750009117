"""App-thread cost of ``botanu.event`` + ``botanu.step`` versus the bare OpenTelemetry SDK.

All sides run in this one process, interleaved round by round, each with a real
SDK TracerProvider and a BatchSpanProcessor whose exporter discards batches:

* bare:   two nested ``start_as_current_span`` calls carrying the same attributes
          botanu puts on its run and step spans (the run span's provisional
          ``botanu.outcome.status`` included; the run id is a constant here, where
          botanu makes a new UUIDv7 for every run);
* botanu: ``with botanu.event(...): with botanu.step(...)`` through botanu's full
          pipeline (run enricher, redaction wrapper, delivery processor), and again
          through the same pipeline without the redaction wrapper, whose own budget
          is measured by ``bench_redaction.py``.

Prints microseconds per iteration (fastest round of each side) and the ratios (target: <= 1.15).
Usage: ``python benchmarks/bench_core.py [--iterations N] [--rounds R]``.
"""

from __future__ import annotations

import argparse
import gc
import logging
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
from botanu._version import __version__
from botanu.context import _run, _tracing
from botanu.context._tracing import INSTRUMENTATION_NAME


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
# botanu marks a run "success" when it starts; an exception or outcome() replaces it.
RUN_SPAN_ATTRIBUTES = {**RUN_ATTRIBUTES, "botanu.outcome.status": "success"}


def bare_workload(tracer: trace.Tracer) -> Callable[[], None]:
    def run() -> None:
        with tracer.start_as_current_span(
            "botanu.run/Support", kind=SpanKind.SERVER, attributes=RUN_SPAN_ATTRIBUTES
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


def botanu_provider(**settings: object) -> tuple[TracerProvider, Callable[[], None]]:
    """A provider carrying botanu's processors, and a function that points botanu at it."""
    provider = TracerProvider()
    processors = build_processors(resolve_settings(settings), exporter=NullExporter())
    for processor in processors.all():
        provider.add_span_processor(processor)
    tracer = provider.get_tracer(INSTRUMENTATION_NAME, __version__)

    def use() -> None:
        # botanu's spans come from its cached tracer; the API allows one global provider per
        # process, so switching pipelines between rounds means switching that tracer (and,
        # as init() does, telling the pipeline's redactor about new run ids).
        _tracing._tracer = tracer
        _run.set_run_id_listener(processors.run_id_listener)

    return provider, use


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
    full_provider, use_full = botanu_provider()
    logging.getLogger("botanu").setLevel(logging.ERROR)  # the "redaction is OFF" warning is expected
    core_provider, use_core = botanu_provider(redaction=False)
    trace.set_tracer_provider(full_provider)

    sides: dict[str, tuple[Callable[[], None], Callable[[], None], TracerProvider]] = {
        "bare": (bare, lambda: None, bare_provider),
        "full": (botanu_workload, use_full, full_provider),
        "core": (botanu_workload, use_core, core_provider),
    }
    for fn, use, provider in sides.values():  # warm up caches and the batch workers
        use()
        time_per_call(fn, 2000)
        provider.force_flush()
    times: dict[str, list[float]] = {name: [] for name in sides}
    for round_index in range(args.rounds):
        # Rotate the order, and let each side's worker finish its queue outside the timed
        # loop, so no side's round pays for the previous side's export thread.
        names = list(sides)
        names = names[round_index % 3 :] + names[: round_index % 3]
        for name in names:
            fn, use, provider = sides[name]
            use()
            times[name].append(time_per_call(fn, args.iterations))
            provider.force_flush()
    # The fastest round of each side is the one least disturbed by other work on the machine
    # (the batch workers' export threads included), so the ratio compares like with like.
    # Times are per iteration: the fastest round, and the median round for the spread.
    best = {name: min(values) for name, values in times.items()}
    medians = {name: statistics.median(values) for name, values in times.items()}
    rows = (
        ("bare SDK, run + step spans", "bare"),
        ("botanu event + step, full pipeline", "full"),
        ("  the same without redaction", "core"),
    )
    for label, name in rows:
        print(f"{label:36} {best[name]:7.2f} us/iteration (median round {medians[name]:.2f})")
    print(f"{'ratio full / bare':36} {best['full'] / best['bare']:7.3f}  (target <= 1.15)")
    print(f"{'ratio without redaction / bare':36} {best['core'] / best['bare']:7.3f}")
    for provider in (full_provider, core_provider):
        provider.shutdown()


if __name__ == "__main__":
    main()

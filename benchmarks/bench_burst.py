"""A burst while the collector is down: what the app thread pays per run, worst case included.

Both sides make the same burst of runs (a run span and a step span each) as fast as they
can, with nothing listening at the collector's address, in this one process:

* bare:   the SDK's ``BatchSpanProcessor`` + stock ``OTLPSpanExporter`` (it drops what does
          not fit in its queue, uncounted);
* botanu: ``botanu.init()``'s pipeline: the queue overflows into a bounded margin that the
          spiller moves to the disk spool, so the burst is kept, not dropped.

The app thread never touches the disk in botanu's pipeline (the spiller thread does): this
measures that claim as the slowest iterations of the burst, besides the median, and prints
what each side kept. Usage: ``python benchmarks/bench_burst.py [--runs N] [--rounds R]``.
"""

from __future__ import annotations

import argparse
import logging
import socket
import statistics
import tempfile
import time
from collections.abc import Callable

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

import botanu


def dead_endpoint() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}/v1/traces"


def burst(fn: Callable[[int], None], runs: int) -> list[float]:
    """Microseconds per iteration, every iteration."""
    out = []
    clock = time.perf_counter
    for index in range(runs):
        start = clock()
        fn(index)
        out.append((clock() - start) * 1e6)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1500)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    logging.getLogger("botanu").setLevel(logging.ERROR)
    logging.getLogger("opentelemetry").setLevel(logging.CRITICAL)
    endpoint = dead_endpoint()

    bare_provider = TracerProvider()
    bare_provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint, timeout=1)))
    tracer = bare_provider.get_tracer("bench")

    def bare(index: int) -> None:
        with tracer.start_as_current_span("botanu.run/Burst", attributes={"botanu.event_id": f"e-{index}"}):
            with tracer.start_as_current_span("botanu.step/s"):
                pass

    def with_botanu(index: int) -> None:
        with botanu.event(event_id=f"e-{index}", customer_id="c", workflow="Burst"):
            with botanu.step("s"):
                pass

    results: dict[str, list[list[float]]] = {"bare": [], "botanu": []}
    with tempfile.TemporaryDirectory() as spool_dir:
        botanu.init(endpoint=endpoint, spool_dir=spool_dir, instrumentations=False, logs=False)
        trace.set_tracer_provider(bare_provider)  # refused: botanu's own provider stays global
        for _ in range(args.rounds):
            results["bare"].append(burst(bare, args.runs))
            results["botanu"].append(burst(with_botanu, args.runs))
            botanu.force_flush(10)  # spill and spool outside the timed bursts
            time.sleep(0.2)
        stats = botanu.stats()
        botanu.shutdown(5)
    for name, rounds in results.items():
        flat = sorted(value for one in rounds for value in one)
        p99 = flat[int(len(flat) * 0.99)]
        print(
            f"{name:7} median {statistics.median(flat):7.1f} us  p99 {p99:8.1f} us  "
            f"max {flat[-1]:9.1f} us per run ({len(flat)} runs)"
        )
        print(
            f"{'':7} slowest run of each round: " + ", ".join(f"{max(one) / 1000:.1f} ms" for one in rounds)
        )
    made = 2 * args.runs * args.rounds
    print(f"botanu kept {stats['spooled']} of {made} spans in the spool, dropped {stats['dropped_total']}")
    print("bare SDK: whatever did not fit its queue (2048) was dropped, uncounted")


if __name__ == "__main__":
    main()

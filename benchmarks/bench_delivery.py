"""Delivery while the collector is down, and spool replay throughput, against the bare OpenTelemetry SDK.

Everything runs in this one process, against loopback only:

0. **Collector up** (a loopback sink), ``--up-spans`` spans: the baseline, where both sides
   encode and send every span on their export thread.

1. **Collector down** (a loopback port nobody listens on), ``--spans`` spans (default 1,000,000):

   * bare:   ``BatchSpanProcessor`` + the stock ``OTLPSpanExporter``;
   * botanu: ``DeliveryProcessor`` + ``OTLPHttpSpanExporter`` + a spool in a temp dir (64 MiB cap).

   Reports the app thread's cost per span, the peak resident memory while the
   spans are produced (sampled ``VmRSS``; it must stay flat, not grow with the
   span count), how long shutdown took, and what became of the spans.

2. **Replay**: ``--batches`` spooled batches of 512 spans replayed to a loopback
   sink, in batches/s and spans/s, next to the stock exporter sending the same
   batches live (encoding included, which replay does not need).

Usage: ``python benchmarks/bench_delivery.py [--spans N] [--up-spans M] [--batches B]``.
"""

from __future__ import annotations

import argparse
import gc
import logging
import resource
import shutil
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from botanu import _stats
from botanu.export import DeliveryProcessor, OTLPHttpSpanExporter, Replayer, Spool

ATTRIBUTES = {
    "botanu.run_id": "0192f0e4-7a1b-7c3d-8e9f-0a1b2c3d4e5f",
    "botanu.workflow": "Support",
    "botanu.event_id": "T-1001",
    "botanu.customer_id": "cus_42",
    "http.request.method": "POST",
    "http.response.status_code": 200,
}


# --------------------------------------------------------------------------- measuring


def rss_mib() -> float:
    """Current resident set size (Linux ``/proc``; elsewhere the process's peak)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


class PeakRss:
    """Samples RSS every 20 ms on a thread; ``peak`` is the highest value seen."""

    def __init__(self) -> None:
        self.start = rss_mib()
        self.peak = self.start
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, rss_mib())

    def stop(self) -> PeakRss:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_mib())
        return self


def dead_endpoint() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1/traces"


def produce(provider: TracerProvider, count: int) -> float:
    """End ``count`` spans on this (the app's) thread; return microseconds per span."""
    tracer = provider.get_tracer("bench")
    gc.collect()
    started = time.perf_counter()
    for _ in range(count):
        tracer.start_span("checkout", attributes=ATTRIBUTES).end()
    return (time.perf_counter() - started) / count * 1e6


def timed(fn: Callable[[], Any]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


class _Sink(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()


def start_sink() -> tuple[ThreadingHTTPServer, str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/v1/traces"


# --------------------------------------------------------------------------- 0. collector up


def collector_up(spans: int, spool_root: Path) -> None:
    print(f"0. Collector up (baseline): {spans:,} spans to a loopback sink")
    server, endpoint = start_sink()
    bare_provider = TracerProvider(shutdown_on_exit=False)
    bare_processor = BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint))
    bare_provider.add_span_processor(bare_processor)
    bare_us = produce(bare_provider, spans)
    bare_processor.shutdown()

    _stats.reset()
    exporter = OTLPHttpSpanExporter(endpoint, spool=Spool(spool_root / "up"))
    processor = DeliveryProcessor(exporter)
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(processor)
    botanu_us = produce(provider, spans)
    processor.shutdown(10_000)
    server.shutdown()
    snap = _stats.snapshot()
    print(f"   bare SDK   app thread {bare_us:6.2f} us/span")
    print(
        f"   botanu     app thread {botanu_us:6.2f} us/span   ratio {botanu_us / bare_us:.2f}x   "
        f"exported {snap['exported']:,}, dropped {snap['dropped']}, balanced={snap['balanced']}"
    )


# --------------------------------------------------------------------------- 1. collector down


def collector_down(spans: int, spool_root: Path) -> None:
    print(f"1. Collector down: {spans:,} spans to a dead loopback port")
    endpoint = dead_endpoint()

    bare_provider = TracerProvider(shutdown_on_exit=False)
    bare_processor = BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint))
    bare_provider.add_span_processor(bare_processor)
    rss = PeakRss()
    bare_us = produce(bare_provider, spans)
    rss.stop()
    bare_shutdown = timed(bare_processor.shutdown)
    print(
        f"   bare SDK   app thread {bare_us:6.2f} us/span   peak RSS {rss.peak:7.1f} MiB "
        f"(+{rss.peak - rss.start:5.1f})   shutdown {bare_shutdown:5.1f} s   "
        "undelivered spans: dropped, uncounted"
    )
    bare_rss_growth = rss.peak - rss.start

    _stats.reset()
    spool = Spool(spool_root / "down", max_bytes=64 * 1024 * 1024)
    exporter = OTLPHttpSpanExporter(endpoint, spool=spool)
    processor = DeliveryProcessor(exporter, exit_timeout=5.0)
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(processor)
    rss = PeakRss()
    botanu_us = produce(provider, spans)
    rss.stop()
    shutdown = timed(lambda: processor.shutdown(5000))
    snap = _stats.snapshot()
    on_disk = sum(p.stat().st_size for p in spool.directory.iterdir() if p.is_file()) / (1024 * 1024)
    print(
        f"   botanu     app thread {botanu_us:6.2f} us/span   peak RSS {rss.peak:7.1f} MiB "
        f"(+{rss.peak - rss.start:5.1f})   shutdown {shutdown:5.1f} s"
    )
    print(
        f"   botanu accounting: queued {snap['spans_queued']:,}, spooled {snap['spooled']:,} "
        f"(still on disk {snap['spool_pending']:,}, {on_disk:.1f} MiB), dropped {snap['dropped']}, "
        f"balanced={snap['balanced']}"
    )
    print(
        f"   ratios botanu/bare: app thread {botanu_us / bare_us:.2f}x, "
        f"RSS growth {rss.peak - rss.start:.1f} vs {bare_rss_growth:.1f} MiB"
    )


# --------------------------------------------------------------------------- 2. replay throughput


def a_batch(size: int = 512) -> list[Any]:
    captured = InMemorySpanExporter()
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(captured))
    tracer = provider.get_tracer("bench")
    for _ in range(size):
        tracer.start_span("checkout", attributes=ATTRIBUTES).end()
    return list(captured.get_finished_spans())


def replay_throughput(batches: int, spool_root: Path) -> None:
    print(f"2. Replay: {batches:,} spooled batches of 512 spans to a loopback sink")
    server, endpoint = start_sink()
    batch = a_batch()

    _stats.reset()
    spool = Spool(spool_root / "replay", max_bytes=1 << 40, durable=False)
    exporter = OTLPHttpSpanExporter(endpoint, spool=spool)
    for _ in range(batches):
        exporter.spool_spans(batch)
    replayer = Replayer(spool, exporter)
    started = time.perf_counter()
    while replayer.replay_one():
        pass
    replay_s = time.perf_counter() - started
    replayed = _stats.snapshot()["replayed"]
    assert replayed == batches * 512, replayed

    stock = OTLPSpanExporter(endpoint=endpoint)
    live_s = timed(lambda: [stock.export(batch) for _ in range(batches)])
    botanu_live_s = timed(lambda: [exporter.deliver(batch) for _ in range(batches)])
    server.shutdown()

    print(
        f"   botanu replay        {batches / replay_s:8.1f} batches/s  {replayed / replay_s:10,.0f} spans/s"
    )
    print(
        f"   botanu live export   {batches / botanu_live_s:8.1f} batches/s  "
        f"{batches * 512 / botanu_live_s:10,.0f} spans/s  (encode + gzip + POST)"
    )
    print(
        f"   stock live export    {batches / live_s:8.1f} batches/s  {batches * 512 / live_s:10,.0f} spans/s"
        "  (encode + gzip + POST)"
    )
    print(f"   ratio replay / stock live export: {live_s / replay_s:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=1_000_000)
    parser.add_argument("--up-spans", type=int, default=200_000)
    parser.add_argument("--batches", type=int, default=500)
    args = parser.parse_args()
    # Both sides log every failed export while the collector is down; the figures are the point here.
    logging.getLogger("opentelemetry").setLevel(logging.CRITICAL)
    logging.getLogger("botanu").setLevel(logging.CRITICAL)
    root = Path(tempfile.mkdtemp(prefix="botanu-bench-"))
    try:
        collector_up(args.up_spans, root)
        collector_down(args.spans, root)
        replay_throughput(args.batches, root)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()

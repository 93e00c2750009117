"""Whole-process CPU per exported span and log record: botanu against the stock OTel pipeline.

The app thread is half the story: the export thread (encoding, gzip, redaction copies,
HTTP) competes with the app for the GIL on a small machine, and the user pays for both.
This benchmark counts every thread of the process with ``time.process_time()``, from
the first span to a completed flush, for the same work on both sides:

* spans: a run span and a step span under it, 8 attributes each, created with the
  plain OpenTelemetry tracer API;

  * stock:  ``BatchSpanProcessor`` + ``OTLPSpanExporter`` (gzip);
  * botanu: botanu's whole span pipeline (enricher, LLM cost stage, redaction,
    delivery, botanu's OTLP/HTTP exporter, gzip) as ``botanu.init()`` builds it;

* log records: one ``logging`` call with 4 ``extra`` keys inside a span;

  * stock:  ``LoggerProvider`` + the contrib ``LoggingHandler`` + ``BatchLogRecordProcessor``
    + ``OTLPLogExporter`` (gzip);
  * botanu: botanu's log pipeline (its handler, record processor, redaction, delivery, exporter).

Both sides send to the same loopback receiver, which runs in a child process so its CPU
is not counted. Rounds alternate between the sides; the ratio is taken per round and
the median reported, with the app thread's own time (``time.thread_time()``) beside it.

Usage: ``python benchmarks/bench_export_cpu.py [--items N] [--rounds R]``.
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import use_span

from botanu import _stats
from botanu._config import resolve_settings
from botanu._pipeline import build_processors, build_resource
from botanu.export._factory import build_log_delivery
from botanu.logs._handler import BotanuLoggingHandler
from botanu.logs._processor import BotanuLogProcessor
from botanu.logs._setup import _redactor

RUN_ATTRIBUTES = {
    "app.order_id": "ord_8f3a2c",
    "app.cart.items": 3,
    "app.cart.total": 129.95,
    "app.channel": "web",
    "app.region": "eu-west-1",
    "app.customer.tier": "gold",
    "app.coupon": "WINTER25",
    "app.retry": False,
}
STEP_ATTRIBUTES = {
    "app.step.kind": "payment",
    "app.payment.provider": "stripe",
    "app.payment.method": "card",
    "app.payment.amount": 129.95,
    "app.payment.currency": "EUR",
    "app.payment.attempt": 1,
    "app.payment.3ds": True,
    "app.payment.note": "charged on first attempt",
}
QUEUE = 1 << 17
LOG_EXTRA = {"order_id": "ord_8f3a2c", "amount": 129.95, "attempt": 1, "channel": "web"}

RECEIVER = r"""
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class Sink(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *args):
        pass
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

server = ThreadingHTTPServer(("127.0.0.1", 0), Sink)
server.daemon_threads = True
print(server.server_address[1], flush=True)
server.serve_forever()
"""


def start_receiver() -> tuple[subprocess.Popen[str], str]:
    child = subprocess.Popen([sys.executable, "-c", RECEIVER], stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    port = int(child.stdout.readline())
    return child, f"http://127.0.0.1:{port}"


# --------------------------------------------------------------------------- the two pipelines


@dataclass(frozen=True)
class Side:
    """One pipeline under test: makes the work, then flushes it all to the receiver."""

    name: str
    work: Callable[[int], None]
    flush: Callable[[], Any]
    close: Callable[[], Any]


def span_work(provider: TracerProvider) -> Callable[[int], None]:
    tracer = provider.get_tracer("bench.shop")

    def work(count: int) -> None:
        for _ in range(count):
            with tracer.start_as_current_span("checkout", attributes=RUN_ATTRIBUTES):
                with tracer.start_as_current_span("charge", attributes=STEP_ATTRIBUTES):
                    pass

    return work


def stock_spans(base: str, resource: Any) -> Side:
    provider = TracerProvider(resource=resource, shutdown_on_exit=False)
    processor = BatchSpanProcessor(
        OTLPSpanExporter(endpoint=f"{base}/v1/traces", compression=Compression.Gzip)
    )
    provider.add_span_processor(processor)
    return Side("stock", span_work(provider), processor.force_flush, processor.shutdown)


def botanu_spans(base: str, settings: Any, resource: Any) -> Side:
    provider = TracerProvider(resource=resource, shutdown_on_exit=False)
    processor = build_processors(settings).combined
    provider.add_span_processor(processor)
    return Side("botanu", span_work(provider), processor.force_flush, processor.shutdown)


def log_work(handler: logging.Handler, provider: TracerProvider) -> Callable[[int], None]:
    app_logger = logging.Logger(f"bench.shop.{id(handler)}", logging.INFO)
    app_logger.addHandler(handler)
    tracer = provider.get_tracer("bench.shop")

    def work(count: int) -> None:
        with tracer.start_as_current_span("checkout") as span, use_span(span):
            for _ in range(count):
                app_logger.info("charged order %s", "ord_8f3a2c", extra=LOG_EXTRA)

    return work


def stock_logs(base: str, resource: Any, spans: TracerProvider) -> Side:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the SDK's handler is deprecated in favour of contrib's
        try:
            from opentelemetry.instrumentation.logging.handler import LoggingHandler
        except ImportError:
            from opentelemetry.sdk._logs import LoggingHandler  # type: ignore[no-redef]
    provider = LoggerProvider(resource=resource, shutdown_on_exit=False)
    processor = BatchLogRecordProcessor(
        OTLPLogExporter(endpoint=f"{base}/v1/logs", compression=Compression.Gzip)
    )
    provider.add_log_record_processor(processor)
    work = log_work(LoggingHandler(logger_provider=provider), spans)
    return Side("stock", work, processor.force_flush, processor.shutdown)


def botanu_logs(base: str, settings: Any, resource: Any, spans: TracerProvider) -> Side:
    delivery = build_log_delivery(settings, redactor=_redactor(settings))
    provider = LoggerProvider(resource=resource, shutdown_on_exit=False)
    provider.add_log_record_processor(BotanuLogProcessor(delivery, None))
    work = log_work(BotanuLoggingHandler(provider, logging.INFO), spans)
    return Side("botanu", work, delivery.force_flush, delivery.shutdown)


# --------------------------------------------------------------------------- measuring


def measure(side: Side, count: int) -> tuple[float, float]:
    """(process CPU, app-thread CPU) in microseconds per unit of work, flush included."""
    gc.collect()
    process_start, thread_start = time.process_time(), time.thread_time()
    side.work(count)
    thread_end = time.thread_time()
    if side.flush() is False:
        raise SystemExit(
            f"{side.name}: flush did not complete: {_stats.spans.snapshot()} {_stats.logs.snapshot()}"
        )
    process_end = time.process_time()
    return (process_end - process_start) / count * 1e6, (thread_end - thread_start) / count * 1e6


def compare(title: str, unit: str, stock: Side, botanu: Side, count: int, rounds: int) -> float:
    measure(stock, count // 10)  # warm both sides up (imports, connections, caches)
    measure(botanu, count // 10)
    ratios, app_ratios = [], []
    figures: dict[str, list[tuple[float, float]]] = {"stock": [], "botanu": []}
    for _ in range(rounds):
        stock_cpu, stock_app = measure(stock, count)
        botanu_cpu, botanu_app = measure(botanu, count)
        figures["stock"].append((stock_cpu, stock_app))
        figures["botanu"].append((botanu_cpu, botanu_app))
        ratios.append(botanu_cpu / stock_cpu)
        app_ratios.append(botanu_app / stock_app)
    print(f"{title}: {count:,} {unit} per round, {rounds} rounds, alternating")
    for name, rows in figures.items():
        cpu = statistics.median(row[0] for row in rows)
        app = statistics.median(row[1] for row in rows)
        print(f"   {name:7s} whole process {cpu:7.1f} us/{unit[:-1]}   app thread {app:6.1f} us/{unit[:-1]}")
    ratio = statistics.median(ratios)
    print(
        f"   ratio botanu/stock: whole process {ratio:.2f}x (rounds {min(ratios):.2f}-{max(ratios):.2f}), "
        f"app thread {statistics.median(app_ratios):.2f}x"
    )
    return ratio


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=5000, help="work units per round")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    logging.getLogger("botanu").setLevel(logging.ERROR)
    child, base = start_receiver()
    try:
        os.environ.pop("BOTANU_CONSOLE", None)
        # Queues as large as a round on both sides: every item is exported (none dropped or spilled).
        os.environ["OTEL_BSP_MAX_QUEUE_SIZE"] = os.environ["OTEL_BLRP_MAX_QUEUE_SIZE"] = str(QUEUE)
        settings = resolve_settings(
            {
                "service_name": "bench-shop",
                "endpoint": f"{base}/v1/traces",
                "logs_endpoint": f"{base}/v1/logs",
            }
        )
        resource = build_resource(settings)
        _stats.reset()
        stock, botanu = stock_spans(base, resource), botanu_spans(base, settings, resource)
        span_ratio = compare(
            "Spans (run + step, 8 attributes each)", "runs", stock, botanu, args.items, args.rounds
        )
        tracing = TracerProvider(resource=resource, shutdown_on_exit=False)
        stock_log, botanu_log = (
            stock_logs(base, resource, tracing),
            botanu_logs(base, settings, resource, tracing),
        )
        log_ratio = compare(
            "Log records (one logging call, 4 extras, in a span)",
            "records",
            stock_log,
            botanu_log,
            args.items * 2,
            args.rounds,
        )
        for side in (stock, botanu, stock_log, botanu_log):
            side.close()
        spans, logs = _stats.spans.snapshot(), _stats.logs.snapshot()
        print(
            f"botanu's books: spans exported {spans['exported']:,} dropped {spans['dropped']}; "
            f"records exported {logs['exported']:,} dropped {logs['dropped']}"
        )
        print(f"goal <= 0.50x: spans {span_ratio:.2f}x, log records {log_ratio:.2f}x")
    finally:
        child.kill()
        child.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())

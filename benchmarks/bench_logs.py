"""App-thread cost of one ``logging`` call: botanu's handler versus the stock OTel SDK pipeline.

Both sides run in this one process, interleaved round by round, and export the same
records to the same loopback OTLP/HTTP receiver (a real server answering 200):

* stock:  the SDK's ``LoggingHandler`` + ``BatchLogRecordProcessor`` + the stock
          ``OTLPLogExporter`` (opentelemetry-exporter-otlp-proto-http);
* botanu: ``BotanuLoggingHandler`` + botanu's log processor (run attributes, fingerprint)
          + delivery (queue, spool) + ``OTLPHttpLogExporter`` with redaction.

Each side logs through its own stdlib logger (not propagating to root), inside a botanu
run so that botanu stamps the run's attributes, as it does in an app. Only the calling
thread is timed; the export threads drain between rounds, outside the timed loop.

Prints microseconds per call (fastest round of each side) and the ratio (target: <= 1.2).
Usage: ``python benchmarks/bench_logs.py [--iterations N] [--rounds R]``.
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import statistics
import tempfile
import threading
import time
import warnings
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.resources import Resource

import botanu
from botanu._config import resolve_settings
from botanu.export._factory import build_log_delivery
from botanu.logs._handler import BotanuLoggingHandler
from botanu.logs._processor import BotanuLogProcessor
from botanu.redaction import Redactor


class Sink(BaseHTTPRequestHandler):
    """Reads the request and answers 200 with an empty OTLP response."""

    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def start_receiver() -> tuple[ThreadingHTTPServer, str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Sink)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def stock_side(base: str, resource: Resource) -> tuple[logging.Logger, LoggerProvider]:
    provider = LoggerProvider(resource=resource, shutdown_on_exit=False)
    provider.add_log_record_processor(BatchLogRecordProcessor(OTLPLogExporter(endpoint=f"{base}/v1/logs")))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        handler = LoggingHandler(logger_provider=provider)
    return attach("bench.stock", handler), provider


def botanu_side(base: str, resource: Resource, spool_dir: str) -> tuple[logging.Logger, LoggerProvider]:
    settings = resolve_settings({"endpoint": f"{base}/v1/traces", "spool_dir": spool_dir})
    delivery = build_log_delivery(settings, redactor=Redactor.from_settings(settings))
    provider = LoggerProvider(resource=resource, shutdown_on_exit=False)
    provider.add_log_record_processor(BotanuLogProcessor(delivery))
    return attach("bench.botanu", BotanuLoggingHandler(provider)), provider


def attach(name: str, handler: logging.Handler) -> logging.Logger:
    logger = logging.getLogger(name)
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger


def workload(logger: logging.Logger) -> Callable[[], None]:
    extra = {"order_id": 7, "region": "eu-west"}

    def call() -> None:
        logger.info("order %s shipped to %s", "ord-1001", "warehouse 3", extra=extra)

    return call


def time_per_call(fn: Callable[[], None], iterations: int) -> float:
    gc.collect()
    start = time.perf_counter()
    for _ in range(iterations):
        fn()
    return (time.perf_counter() - start) / iterations * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    # Queues big enough that neither side drops records while measuring.
    os.environ["OTEL_BLRP_MAX_QUEUE_SIZE"] = str(args.iterations * 4)
    logging.getLogger("botanu").setLevel(logging.ERROR)
    server, base = start_receiver()
    resource = Resource.create({"service.name": "bench"})
    botanu.init(endpoint=f"{base}/v1/traces", logs=False, instrumentations=False)
    with tempfile.TemporaryDirectory() as spool_dir:
        stock_logger, stock_provider = stock_side(base, resource)
        botanu_logger, botanu_provider = botanu_side(base, resource, spool_dir)
        sides = {
            "stock": (workload(stock_logger), stock_provider),
            "botanu": (workload(botanu_logger), botanu_provider),
        }
        times: dict[str, list[float]] = {name: [] for name in sides}
        with botanu.event(event_id="T-1001", customer_id="cus_42", workflow="Support"):
            for fn, provider in sides.values():  # warm up caches and the export threads
                time_per_call(fn, 500)
                provider.force_flush()
            for round_index in range(args.rounds):
                names = list(sides) if round_index % 2 == 0 else list(sides)[::-1]
                for name in names:
                    fn, provider = sides[name]
                    times[name].append(time_per_call(fn, args.iterations))
                    provider.force_flush()
        best = {name: min(values) for name, values in times.items()}
        medians = {name: statistics.median(values) for name, values in times.items()}
        stock_label = "stock SDK handler + batch + OTLP"
        print(f"{stock_label:36} {best['stock']:7.2f} us/call (median {medians['stock']:.2f})")
        print(
            f"{'botanu handler + pipeline':36} {best['botanu']:7.2f} us/call (median {medians['botanu']:.2f})"
        )
        print(f"{'ratio botanu / stock':36} {best['botanu'] / best['stock']:7.3f}  (target <= 1.2)")
        for provider in (stock_provider, botanu_provider):
            provider.shutdown()
    botanu.shutdown(2)
    server.shutdown()


if __name__ == "__main__":
    main()

"""The botanu program the Phoenix end-to-end test runs, in a fresh Python process.

Usage: ``python botanu_program.py '<json config>'`` with ``endpoint``, ``project``, ``password``
and ``api_key`` in the config. It instruments itself with ``botanu.init()`` only (the HTTP client
span comes from botanu's zero-code instrumentation of ``requests``), runs one business run with two
steps (an HTTP call to a loopback server in this process; an exception raised out of a step and
caught by the run), shuts botanu down and prints one JSON line on stdout: the trace id, the run id,
the span id of each span it expects, the ``traceparent`` the loopback server received, and whether
``shutdown()`` reported every span delivered.
"""

from __future__ import annotations

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import requests
from opentelemetry import trace

import botanu


class PaymentDeclinedError(Exception):
    """The business failure the ``charge`` step raises."""


class _OrderHandler(BaseHTTPRequestHandler):
    received: list[dict[str, str]] = []

    def do_GET(self) -> None:
        _OrderHandler.received.append({"path": self.path, "traceparent": self.headers.get("traceparent", "")})
        body = b'{"order": 7, "items": 2}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # keep stderr for botanu's own lines
        pass


def _span_id() -> str:
    return format(trace.get_current_span().get_span_context().span_id, "016x")


def main() -> None:
    config = json.loads(sys.argv[1])
    server = ThreadingHTTPServer(("127.0.0.1", 0), _OrderHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    order_url = f"http://127.0.0.1:{server.server_port}/orders/7?api_key={config['api_key']}&expand=items"

    botanu.init(
        service_name="botanu-e2e",
        environment="e2e",
        endpoint=config["endpoint"],
        headers={"x-project-name": config["project"]},  # Phoenix files the spans under this project
        logs=False,  # Phoenix receives traces only
    )

    out: dict[str, Any] = {"span_ids": {}}
    with botanu.event(event_id="order-7", customer_id="cus_42", workflow="Checkout"):
        run = botanu.current_run()
        assert run is not None
        out["run_id"] = run.run_id
        out["trace_id"] = format(trace.get_current_span().get_span_context().trace_id, "032x")
        out["span_ids"]["botanu.run/Checkout"] = _span_id()
        with botanu.step("fetch-order"):
            out["span_ids"]["botanu.step/fetch-order"] = _span_id()
            response = requests.get(order_url, timeout=10)
            response.raise_for_status()
        try:
            with botanu.step("charge"):
                out["span_ids"]["botanu.step/charge"] = _span_id()
                raise PaymentDeclinedError(f"card declined for order 7; password={config['password']}")
        except PaymentDeclinedError:
            pass

    out["delivered"] = botanu.shutdown(timeout=15)
    out["server_received"] = _OrderHandler.received
    server.shutdown()
    print(json.dumps(out))


if __name__ == "__main__":
    main()

"""The real anthropic SDK with its own tracing on (no botanu instrumentor): its spans get cost and count.

The client talks to a loopback fake of the Messages API; anthropic 2.x makes the gen_ai span
itself (scope ``com.anthropic.sdk.python``), and botanu's cost stage prices it from its attributes.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import genai_prices
import pytest

import botanu
from botanu.llm import _rollup

anthropic = pytest.importorskip("anthropic")

MODEL = "claude-3-5-haiku-20241022"
USAGE = {
    "input_tokens": 100,
    "output_tokens": 20,
    "cache_read_input_tokens": 1000,
    "cache_creation_input_tokens": 200,
}


class _MessagesAPI(BaseHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        request = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))) or b"{}")
        if request.get("model") == "rate-limited":
            status, body = (
                429,
                {"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}},
            )
        else:
            status, body = (
                200,
                {
                    "id": "msg_01",
                    "type": "message",
                    "role": "assistant",
                    "model": MODEL,
                    "content": [{"type": "text", "text": "Hello"}],
                    "stop_reason": "end_turn",
                    "stop_sequence": None,
                    "usage": USAGE,
                },
            )
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


@pytest.fixture
def messages_api() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _MessagesAPI)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(autouse=True)
def _fresh_totals() -> Iterator[None]:
    _rollup.reset()
    yield
    _rollup.reset()


def test_anthropic_native_spans_get_cost_and_count_in_the_run(botanu_init, otlp_receiver, messages_api):
    botanu_init()  # no instrumentations: anthropic's own tracing makes the span
    client = anthropic.Anthropic(base_url=messages_api, api_key="test-key", max_retries=0)
    with botanu.event(event_id="T-1", customer_id="c", workflow="Native") as run:
        client.messages.create(model=MODEL, max_tokens=64, messages=[{"role": "user", "content": "Hi"}])
        with pytest.raises(anthropic.RateLimitError):
            client.messages.create(
                model="rate-limited", max_tokens=64, messages=[{"role": "user", "content": "Hi"}]
            )
    botanu.force_flush(5)
    spans = otlp_receiver.wait_for_spans(3)
    native = [s for s in spans if s.scope == "com.anthropic.sdk.python"]
    assert len(native) == 2, [(s.name, s.scope) for s in spans]
    ok = next(s for s in native if s.status_code != "ERROR")
    failed = next(s for s in native if s.status_code == "ERROR")
    assert ok.attributes["botanu.run_id"] == run.run_id
    # anthropic reports input = input + cache read + cache write, as the OTel convention says.
    assert ok.attributes["gen_ai.usage.input_tokens"] == 1300
    expected = float(
        genai_prices.calc_price(
            genai_prices.Usage(
                input_tokens=1300, cache_read_tokens=1000, cache_write_tokens=200, output_tokens=20
            ),
            MODEL,
            provider_id="anthropic",
        ).total_price
    )
    assert ok.attributes["botanu.cost.usd"] == pytest.approx(expected, rel=1e-12)
    assert "botanu.cost.usd" not in failed.attributes
    run_attributes = otlp_receiver.span("botanu.run/Native").attributes
    assert run_attributes["botanu.llm.calls"] == 2  # the 429 counts as a call
    assert run_attributes["botanu.llm.input_tokens"] == 1300
    assert run_attributes["botanu.llm.output_tokens"] == 20
    assert run_attributes["botanu.cost.usd"] == pytest.approx(expected, rel=1e-12)

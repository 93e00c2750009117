"""A loopback fake of the OpenAI and Anthropic HTTP APIs, speaking their JSON and SSE formats.

Endpoints (under ``/v1``): ``chat/completions``, ``responses``, ``embeddings`` (OpenAI) and
``messages`` (Anthropic), each non-streamed or streamed (``"stream": true``). A request whose
model is ``"rate-limited"`` gets a 429 in the vendor's error format. Every request is kept
(``requests``: path, headers, decoded body) so tests can check what the client really sent.
"""

from __future__ import annotations

import contextlib
import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MODEL = "gpt-test-1"
RESPONSE_MODEL = "gpt-test-1-2026-01-01"
CLAUDE = "claude-test-1"
CLAUDE_RESPONSE = "claude-test-1-20260101"
# Enough chunks that a stream abandoned after two still has most of its body unread.
TEXT_CHUNKS = ["Hel", "lo", " the", "re", "!", *[" more"] * 20]
TEXT = "".join(TEXT_CHUNKS)


@dataclass
class Seen:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


def _sse(data: Any, event: str | None = None) -> bytes:
    head = f"event: {event}\n" if event else ""
    payload = data if isinstance(data, str) else json.dumps(data)
    return f"{head}data: {payload}\n\n".encode()


def chat_completion(body: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": RESPONSE_MODEL,
        "service_tier": body.get("service_tier") or "default",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": TEXT}, "finish_reason": "stop"}],
        "usage": {
            "prompt_tokens": 12,
            "completion_tokens": 7,
            "total_tokens": 19,
            "prompt_tokens_details": {"cached_tokens": 4},
            "completion_tokens_details": {"reasoning_tokens": 2},
        },
    }


def chat_chunks(body: dict[str, Any]) -> list[bytes]:
    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {
            "id": "chatcmpl-2",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": RESPONSE_MODEL,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }

    out = [_sse(chunk({"role": "assistant", "content": ""}))]
    out += [_sse(chunk({"content": text})) for text in TEXT_CHUNKS]
    out.append(_sse(chunk({}, "stop")))
    if (body.get("stream_options") or {}).get("include_usage"):
        out.append(
            _sse(
                {
                    "id": "chatcmpl-2",
                    "object": "chat.completion.chunk",
                    "created": 1,
                    "model": RESPONSE_MODEL,
                    "choices": [],
                    "usage": {"prompt_tokens": 9, "completion_tokens": 25, "total_tokens": 34},
                }
            )
        )
    out.append(_sse("[DONE]"))
    return out


def response_object(status: str = "completed", with_usage: bool = True) -> dict[str, Any]:
    done = status == "completed"
    return {
        "id": "resp_1",
        "object": "response",
        "created_at": 1,
        "status": status,
        "model": RESPONSE_MODEL,
        "output": (
            [
                {
                    "type": "message",
                    "id": "msg_1",
                    "status": "completed",
                    "role": "assistant",
                    "content": [{"type": "output_text", "text": TEXT, "annotations": []}],
                }
            ]
            if done
            else []
        ),
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "usage": (
            {
                "input_tokens": 20,
                "input_tokens_details": {"cached_tokens": 8},
                "output_tokens": 11,
                "output_tokens_details": {"reasoning_tokens": 3},
                "total_tokens": 31,
            }
            if with_usage
            else None
        ),
    }


def response_events() -> list[bytes]:
    item = {"type": "message", "id": "msg_1", "status": "in_progress", "role": "assistant", "content": []}
    part = {"type": "output_text", "text": "", "annotations": []}
    events: list[tuple[str, dict[str, Any]]] = [
        ("response.created", {"response": response_object("in_progress", False)}),
        ("response.output_item.added", {"output_index": 0, "item": item}),
        (
            "response.content_part.added",
            {"item_id": "msg_1", "output_index": 0, "content_index": 0, "part": part},
        ),
    ]
    for text in TEXT_CHUNKS:
        events.append(
            (
                "response.output_text.delta",
                {"item_id": "msg_1", "output_index": 0, "content_index": 0, "delta": text, "logprobs": []},
            )
        )
    events.append(("response.completed", {"response": response_object()}))
    out = []
    for number, (kind, data) in enumerate(events):
        out.append(_sse({"type": kind, "sequence_number": number, **data}, kind))
    return out


def completion() -> dict[str, Any]:
    """A legacy ``/v1/completions`` result."""
    return {
        "id": "cmpl-1",
        "object": "text_completion",
        "created": 1,
        "model": RESPONSE_MODEL,
        "choices": [{"index": 0, "text": TEXT, "finish_reason": "length", "logprobs": None}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 5, "total_tokens": 8},
    }


def completion_chunks() -> list[bytes]:
    def chunk(text: str, finish: str | None) -> dict[str, Any]:
        return {
            "id": "cmpl-2",
            "object": "text_completion",
            "created": 1,
            "model": RESPONSE_MODEL,
            "choices": [{"index": 0, "text": text, "finish_reason": finish, "logprobs": None}],
        }

    out = [_sse(chunk(text, None)) for text in TEXT_CHUNKS]
    return [*out, _sse(chunk("", "stop")), _sse("[DONE]")]


def embeddings(body: dict[str, Any]) -> dict[str, Any]:
    return {
        "object": "list",
        "data": [{"object": "embedding", "index": 0, "embedding": [0.1, 0.2, 0.3]}],
        "model": RESPONSE_MODEL,
        "usage": {"prompt_tokens": 5, "total_tokens": 5},
    }


def claude_usage() -> dict[str, Any]:
    return {
        "input_tokens": 10,
        "output_tokens": 6,
        "cache_read_input_tokens": 100,
        "cache_creation_input_tokens": 20,
    }


def message(body: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": "msg_01",
        "type": "message",
        "role": "assistant",
        "model": CLAUDE_RESPONSE,
        "content": [{"type": "text", "text": TEXT}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": claude_usage(),
    }


def message_events() -> list[bytes]:
    start = {**message({}), "content": [], "stop_reason": None}
    start["usage"] = {**claude_usage(), "output_tokens": 1}
    events: list[tuple[str, dict[str, Any]]] = [
        ("message_start", {"message": start}),
        ("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}}),
    ]
    for text in TEXT_CHUNKS:
        events.append(("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": text}}))
    events += [
        ("content_block_stop", {"index": 0}),
        (
            "message_delta",
            {"delta": {"stop_reason": "end_turn", "stop_sequence": None}, "usage": {"output_tokens": 30}},
        ),
        ("message_stop", {}),
    ]
    return [_sse({"type": kind, **data}, kind) for kind, data in events]


class FakeLLMAPI:
    """Serves the fake APIs on 127.0.0.1 until :meth:`close`."""

    def __init__(self) -> None:
        self.requests: list[Seen] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def handle(self) -> None:
                # A client that gave up on a keep-alive connection is no error here.
                with contextlib.suppress(ConnectionResetError, BrokenPipeError):
                    super().handle()

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw or b"{}")
                outer.requests.append(Seen(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                outer._answer(self, self.path.split("?")[0], body)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        # accept() with a timeout: a connection that vanishes between select() and accept() must
        # not leave serve_forever (and close(), which waits for it) blocked for good.
        self._server.socket.settimeout(1.0)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def anthropic_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _answer(self, handler: BaseHTTPRequestHandler, path: str, body: dict[str, Any]) -> None:
        if body.get("model") == "rate-limited":
            if path == "/v1/messages":
                error = {"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}}
            else:
                error = {"error": {"message": "slow down", "type": "rate_limit_exceeded", "code": None}}
            self._json(handler, error, 429)
            return
        streamed = body.get("stream") is True
        if path == "/v1/chat/completions":
            self._stream(handler, chat_chunks(body)) if streamed else self._json(
                handler, chat_completion(body)
            )
        elif path == "/v1/responses":
            self._stream(handler, response_events()) if streamed else self._json(handler, response_object())
        elif path == "/v1/completions":
            self._stream(handler, completion_chunks()) if streamed else self._json(handler, completion())
        elif path == "/v1/embeddings":
            self._json(handler, embeddings(body))
        elif path == "/v1/messages":
            self._stream(handler, message_events()) if streamed else self._json(handler, message(body))
        else:
            self._json(handler, {"error": {"message": "not found"}}, 404)

    @staticmethod
    def _json(handler: BaseHTTPRequestHandler, data: Any, status: int = 200) -> None:
        payload = json.dumps(data).encode()
        handler.send_response(status)
        handler.send_header("content-type", "application/json")
        handler.send_header("content-length", str(len(payload)))
        if status == 429:
            handler.send_header("retry-after", "0")
        handler.end_headers()
        handler.wfile.write(payload)

    @staticmethod
    def _stream(handler: BaseHTTPRequestHandler, chunks: list[bytes]) -> None:
        handler.send_response(200)
        handler.send_header("content-type", "text/event-stream")
        handler.send_header("transfer-encoding", "chunked")
        handler.end_headers()
        try:
            for chunk in chunks:
                handler.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                handler.wfile.flush()
            handler.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):  # the client stopped reading: fine
            pass

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

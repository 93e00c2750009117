"""A loopback OTLP/HTTP receiver that decodes what an exporter really sent.

It listens on 127.0.0.1 (a free port), accepts ``POST /v1/traces`` and ``POST /v1/logs``
with protobuf bodies (gzip or not), and keeps every request: headers, raw and
decompressed bytes, and the decoded ``ExportTraceServiceRequest`` (in ``requests``) or
``ExportLogsServiceRequest`` (in ``log_requests``). Tests assert on
:meth:`OTLPReceiver.spans` and :meth:`OTLPReceiver.logs`, flat, easy-to-read views.

Faults can be scripted for delivery tests: ``receiver.script([Reply(503), Reply(200)])``
answers the next trace requests in order, then falls back to ``receiver.default``;
``script_logs`` and ``logs_default`` do the same for log requests.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import threading
import time
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

SPAN_KINDS = {0: "UNSPECIFIED", 1: "INTERNAL", 2: "SERVER", 3: "CLIENT", 4: "PRODUCER", 5: "CONSUMER"}
STATUS_CODES = {0: "UNSET", 1: "OK", 2: "ERROR"}


def any_value(value: AnyValue) -> Any:
    """Turn an OTLP AnyValue into a plain Python value."""
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return tuple(any_value(v) for v in value.array_value.values)
    if kind == "kvlist_value":
        return {kv.key: any_value(kv.value) for kv in value.kvlist_value.values}
    return getattr(value, kind)


def attributes(kvs: Iterable[Any]) -> dict[str, Any]:
    return {kv.key: any_value(kv.value) for kv in kvs}


@dataclass
class ReceivedSpan:
    """One span as the collector saw it, in plain Python types."""

    name: str
    trace_id: str
    span_id: str
    parent_span_id: str
    kind: str
    start_ns: int
    end_ns: int
    attributes: dict[str, Any]
    events: list[tuple[str, dict[str, Any]]]
    links: list[tuple[str, str, dict[str, Any]]]
    status_code: str
    status_message: str
    resource: dict[str, Any]
    scope: str

    @property
    def duration_ms(self) -> float:
        return (self.end_ns - self.start_ns) / 1e6


@dataclass
class ReceivedLog:
    """One log record as the collector saw it, in plain Python types."""

    body: Any
    severity_number: int
    severity_text: str
    trace_id: str
    span_id: str
    flags: int
    time_ns: int
    attributes: dict[str, Any]
    resource: dict[str, Any]
    scope: str


@dataclass
class Reply:
    """How the receiver answers one request (for fault injection)."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    body: bytes | None = None
    # Close the connection without answering (after reading the body).
    drop: bool = False
    rejected_spans: int = 0
    error_message: str = ""


@dataclass
class ReceivedRequest:
    path: str
    headers: dict[str, str]
    raw: bytes
    body: bytes
    request: Any  # ExportTraceServiceRequest or ExportLogsServiceRequest; None if undecodable
    reply: Reply
    at: float


class OTLPReceiver:
    """A real HTTP server on 127.0.0.1 that records OTLP trace exports."""

    def __init__(self) -> None:
        self.requests: list[ReceivedRequest] = []
        self.log_requests: list[ReceivedRequest] = []
        self.default = Reply()
        self.logs_default = Reply()
        # Like a collector's request-size limit: larger bodies are answered 413 (None: no limit).
        self.max_body: int | None = None
        self._script: list[Reply] = []
        self._logs_script: list[Reply] = []
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

            def do_POST(self) -> None:
                receiver._handle(self)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        # accept() with a timeout: a connection that vanishes between select() and accept() must
        # not leave serve_forever (and close(), which waits for it) blocked for good.
        self._server.socket.settimeout(1.0)
        self.port = self._server.server_address[1]
        self.endpoint = f"http://127.0.0.1:{self.port}/v1/traces"
        # A short poll interval keeps close() fast (it waits for the serving loop to notice).
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="otlp-receiver",
            daemon=True,
        )
        self._thread.start()

    # ------------------------------------------------------------------ serving

    def script(self, replies: Iterable[Reply]) -> None:
        with self._lock:
            self._script.extend(replies)

    def script_logs(self, replies: Iterable[Reply]) -> None:
        with self._lock:
            self._logs_script.extend(replies)

    def recover(self) -> None:
        """Forget the scripted replies still unused and accept everything from now on."""
        with self._lock:
            self._script.clear()
            self._logs_script.clear()
            self.default = Reply()
            self.logs_default = Reply()

    def _next_reply(self, logs: bool) -> Reply:
        with self._lock:
            if logs:
                return self._logs_script.pop(0) if self._logs_script else self.logs_default
            return self._script.pop(0) if self._script else self.default

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length)
        encoding = (handler.headers.get("Content-Encoding") or "").lower()
        if encoding == "gzip":
            body = gzip.decompress(raw)
        elif encoding == "deflate":
            body = zlib.decompress(raw)
        else:
            body = raw
        is_logs = handler.path.rstrip("/").endswith("/v1/logs")
        reply = self._next_reply(is_logs)
        if self.max_body is not None and len(raw) > self.max_body:
            reply = Reply(413)
        decoded: Any = ExportLogsServiceRequest() if is_logs else ExportTraceServiceRequest()
        try:
            decoded.ParseFromString(body)
        except Exception:
            decoded = None
        if reply.delay:
            time.sleep(reply.delay)
        record = ReceivedRequest(
            path=handler.path,
            headers={k.lower(): v for k, v in handler.headers.items()},
            raw=raw,
            body=body,
            request=decoded,
            reply=reply,
            at=time.monotonic(),
        )
        with self._changed:
            (self.log_requests if is_logs else self.requests).append(record)
            self._changed.notify_all()
        if reply.drop:
            handler.close_connection = True
            with contextlib.suppress(OSError):
                handler.connection.shutdown(2)
            return
        if reply.body is not None:
            payload = reply.body
        elif is_logs:
            logs_response = ExportLogsServiceResponse()
            if reply.rejected_spans:
                logs_response.partial_success.rejected_log_records = reply.rejected_spans
                logs_response.partial_success.error_message = reply.error_message
            payload = logs_response.SerializeToString()
        else:
            response = ExportTraceServiceResponse()
            if reply.rejected_spans:
                response.partial_success.rejected_spans = reply.rejected_spans
                response.partial_success.error_message = reply.error_message
            payload = response.SerializeToString()
        handler.send_response(reply.status)
        handler.send_header("Content-Type", "application/x-protobuf")
        for key, value in reply.headers.items():
            handler.send_header(key, value)
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)

    # ------------------------------------------------------------------ reading

    def accepted(self) -> list[ReceivedRequest]:
        """Requests that were answered with 2xx (what a real collector kept)."""
        with self._lock:
            return [r for r in self.requests if 200 <= r.reply.status < 300 and not r.reply.drop]

    def spans(self, *, accepted_only: bool = True) -> list[ReceivedSpan]:
        with self._lock:
            requests = list(self.requests)
        out: list[ReceivedSpan] = []
        for record in requests:
            if accepted_only and not (200 <= record.reply.status < 300 and not record.reply.drop):
                continue
            if record.request is None:
                continue
            for resource_spans in record.request.resource_spans:
                resource = attributes(resource_spans.resource.attributes)
                for scope_spans in resource_spans.scope_spans:
                    for span in scope_spans.spans:
                        out.append(
                            ReceivedSpan(
                                name=span.name,
                                trace_id=span.trace_id.hex(),
                                span_id=span.span_id.hex(),
                                parent_span_id=span.parent_span_id.hex(),
                                kind=SPAN_KINDS.get(span.kind, str(span.kind)),
                                start_ns=span.start_time_unix_nano,
                                end_ns=span.end_time_unix_nano,
                                attributes=attributes(span.attributes),
                                events=[(e.name, attributes(e.attributes)) for e in span.events],
                                links=[
                                    (link.trace_id.hex(), link.span_id.hex(), attributes(link.attributes))
                                    for link in span.links
                                ],
                                status_code=STATUS_CODES.get(span.status.code, str(span.status.code)),
                                status_message=span.status.message,
                                resource=resource,
                                scope=scope_spans.scope.name,
                            )
                        )
        return out

    def logs(self, *, accepted_only: bool = True) -> list[ReceivedLog]:
        """Every log record received (by default only from requests answered 2xx)."""
        with self._lock:
            requests = list(self.log_requests)
        out: list[ReceivedLog] = []
        for record in requests:
            if accepted_only and not (200 <= record.reply.status < 300 and not record.reply.drop):
                continue
            if record.request is None:
                continue
            for resource_logs in record.request.resource_logs:
                resource = attributes(resource_logs.resource.attributes)
                for scope_logs in resource_logs.scope_logs:
                    for log in scope_logs.log_records:
                        out.append(
                            ReceivedLog(
                                body=any_value(log.body),
                                severity_number=log.severity_number,
                                severity_text=log.severity_text,
                                trace_id=log.trace_id.hex(),
                                span_id=log.span_id.hex(),
                                flags=log.flags,
                                time_ns=log.time_unix_nano,
                                attributes=attributes(log.attributes),
                                resource=resource,
                                scope=scope_logs.scope.name,
                            )
                        )
        return out

    def wait_for_logs(self, count: int, timeout: float = 10.0) -> list[ReceivedLog]:
        self.wait_for(lambda r: len(r.logs()) >= count, timeout)
        return self.logs()

    def span(self, name: str) -> ReceivedSpan:
        """The one received span with this name (fails if there are none or several)."""
        matches = [s for s in self.spans() if s.name == name]
        assert len(matches) == 1, f"expected one span named {name!r}, got {[s.name for s in self.spans()]}"
        return matches[0]

    def raw_bodies(self) -> list[bytes]:
        """Every decompressed request body, spans and logs, accepted or not (for leak searches)."""
        with self._lock:
            return [r.body for r in self.requests + self.log_requests]

    def wait_for(self, predicate: Callable[[OTLPReceiver], bool], timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while not predicate(self):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            with self._changed:
                # A short wait also covers a notification that raced the check above.
                self._changed.wait(min(remaining, 0.05))
        return True

    def wait_for_spans(self, count: int, timeout: float = 10.0) -> list[ReceivedSpan]:
        self.wait_for(lambda r: len(r.spans()) >= count, timeout)
        return self.spans()

    def to_otlp_json(self) -> str:
        """The accepted spans as OTLP/JSON lines (one export request per line)."""
        from google.protobuf.json_format import MessageToDict

        lines = [json.dumps(MessageToDict(r.request)) for r in self.accepted() if r.request is not None]
        return "\n".join(lines)

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()
            self.log_requests.clear()
            self._script.clear()
            self._logs_script.clear()
            self.default = Reply()
            self.logs_default = Reply()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

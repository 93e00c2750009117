"""Harness for the end-to-end tests: a real Arize Phoenix server, and a recording proxy in front of it.

Phoenix is not a dependency of botanu: ``make e2e`` installs it in its own venv (``.venv-phoenix``)
and points ``BOTANU_PHOENIX`` at its ``phoenix`` command. Everything listens on 127.0.0.1; Phoenix
keeps its sqlite database in a temporary directory and is told not to fetch anything from outside.
"""

from __future__ import annotations

import contextlib
import gzip
import http.client
import json
import os
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

READY_TIMEOUT = 60.0  # seconds for Phoenix to answer /healthz (about 15 s here, migrations included)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _tail(path: Path, limit: int = 6000) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as error:
        return f"(could not read {path}: {error})"
    return text[-limit:]


@dataclass
class Phoenix:
    """A running Phoenix server: where it listens and where it keeps its data."""

    base_url: str
    working_dir: Path
    process: subprocess.Popen[bytes]
    stdout_path: Path
    stderr_path: Path
    ready_after: float = 0.0  # seconds from start to the first 200 on /healthz

    def get_json(self, path: str, **query: Any) -> tuple[int, Any]:
        """GET ``path`` from the REST API; (status, parsed JSON or the raw text)."""
        url = self.base_url + path
        if query:
            url += "?" + urllib.parse.urlencode(query, doseq=True)
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, raw = error.code, error.read()
        try:
            return status, json.loads(raw)
        except ValueError:
            return status, raw.decode(errors="replace")

    def stored_bytes(self) -> bytes:
        """Every byte of Phoenix's sqlite database as it is on disk (main file, WAL and shared memory)."""
        return b"".join(p.read_bytes() for p in sorted(self.working_dir.glob("phoenix.db*")) if p.is_file())

    def logs(self) -> str:
        stderr, stdout = _tail(self.stderr_path), _tail(self.stdout_path)
        return f"--- Phoenix stderr ---\n{stderr}\n--- Phoenix stdout ---\n{stdout}"


def _phoenix_env(working_dir: Path, http_port: int, grpc_port: int) -> dict[str, str]:
    """A clean environment: no OTEL_*/BOTANU_* or proxy settings leak in, nothing is fetched from outside."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(working_dir),
        "TMPDIR": str(working_dir),
        "LANG": "C.UTF-8",
        "PHOENIX_HOST": "127.0.0.1",
        "PHOENIX_PORT": str(http_port),
        # The OTLP/gRPC receiver always binds every interface: a free port, never the shared 4317.
        "PHOENIX_GRPC_PORT": str(grpc_port),
        "PHOENIX_WORKING_DIR": str(working_dir),  # the sqlite database lives here
        "PHOENIX_ALLOW_EXTERNAL_RESOURCES": "false",
        "PHOENIX_DISABLE_AGENT_ASSISTANT": "true",
        "PHOENIX_AGENTS_DISABLE_WEB_ACCESS": "true",
        "PHOENIX_TELEMETRY_ENABLED": "false",
        "PHOENIX_ENABLE_MCP_SERVER": "false",
        "PHOENIX_LOG_MIGRATIONS": "false",
    }


class PhoenixFailed(RuntimeError):
    """Phoenix exited or did not become ready; the message carries its stderr and stdout."""


def start_phoenix(binary: str, working_dir: Path, ready_timeout: float = READY_TIMEOUT) -> Phoenix:
    """Start ``phoenix serve`` on free loopback ports and wait until ``/healthz`` answers 200."""
    http_port, grpc_port = free_port(), free_port()
    while grpc_port == http_port:
        grpc_port = free_port()
    stdout_path, stderr_path = working_dir / "phoenix.stdout", working_dir / "phoenix.stderr"
    with open(stdout_path, "wb") as out, open(stderr_path, "wb") as err:
        process = subprocess.Popen(
            [binary, "serve"],
            env=_phoenix_env(working_dir, http_port, grpc_port),
            cwd=working_dir,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            start_new_session=True,  # its own process group: stop_phoenix() ends Phoenix and any child of it
        )
    server = Phoenix(f"http://127.0.0.1:{http_port}", working_dir, process, stdout_path, stderr_path)
    started = time.monotonic()
    try:
        while True:
            if process.poll() is not None:
                raise PhoenixFailed(f"Phoenix exited with status {process.returncode} before it was ready")
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(server.base_url + "/healthz", timeout=2) as response:
                    if response.status == 200:
                        server.ready_after = time.monotonic() - started
                        return server
            if time.monotonic() - started > ready_timeout:
                raise PhoenixFailed(f"Phoenix was not ready within {ready_timeout:.0f} s")
            time.sleep(0.25)
    except BaseException as error:
        stop_phoenix(server)
        if isinstance(error, PhoenixFailed):
            raise PhoenixFailed(f"{error}\n{server.logs()}") from None
        raise


def stop_phoenix(server: Phoenix) -> None:
    """End Phoenix's process group: SIGTERM, then SIGKILL if it has not exited within 15 s."""
    process = server.process
    for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
        if process.poll() is not None:
            break
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=wait)
    # The group may outlive its leader (a worker Phoenix started): end what is left of it.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


# --------------------------------------------------------------------------- the recording proxy

_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
}


@dataclass
class RecordedExport:
    """One export request as it crossed the wire, what it decoded to, and Phoenix's answer."""

    path: str
    headers: dict[str, str]  # names in lower case
    body: bytes  # exactly as sent (and as forwarded)
    decoded: bytes | None = None  # the protobuf bytes (gunzipped when it says gzip)
    request: ExportTraceServiceRequest | None = None
    decode_error: str | None = None
    upstream_status: int | None = None
    upstream_body: bytes = b""


@dataclass
class RecordingProxy:
    """Loopback HTTP proxy in front of Phoenix's OTLP/HTTP receiver.

    Records each request, checks it decodes (gunzip, then ``ExportTraceServiceRequest``), forwards
    the same bytes, with the same headers, to Phoenix and relays Phoenix's answer unchanged.
    """

    upstream_port: int
    exports: list[RecordedExport] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                proxy._handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}/v1/traces"

    def snapshot(self) -> list[RecordedExport]:
        with self._lock:
            return list(self.exports)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _read_body(self, handler: BaseHTTPRequestHandler) -> bytes:
        if handler.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(handler.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while handler.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(handler.rfile.read(size))
                handler.rfile.readline()
        return handler.rfile.read(int(handler.headers.get("Content-Length", "0")))

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        body = self._read_body(handler)
        record = RecordedExport(
            path=handler.path, headers={k.lower(): v for k, v in handler.headers.items()}, body=body
        )
        try:
            gzipped = record.headers.get("content-encoding") == "gzip"
            record.decoded = gzip.decompress(body) if gzipped else body
            record.request = ExportTraceServiceRequest.FromString(record.decoded)
        except Exception as error:  # recorded and asserted on by the test, never raised here
            record.decode_error = f"{type(error).__name__}: {error}"

        forward = {k: v for k, v in handler.headers.items() if k.lower() not in _HOP_BY_HOP}
        forward["Content-Length"] = str(len(body))
        status, reply, content_type = 502, b"proxy: Phoenix did not answer", "text/plain"
        connection = http.client.HTTPConnection("127.0.0.1", self.upstream_port, timeout=30)
        try:
            connection.request("POST", handler.path, body=body, headers=forward)
            response = connection.getresponse()
            status, reply = response.status, response.read()
            content_type = response.getheader("Content-Type", "application/octet-stream")
        except OSError as error:
            reply = f"proxy: forwarding to Phoenix failed: {error}".encode()
        finally:
            connection.close()
        record.upstream_status, record.upstream_body = status, reply
        with self._lock:
            self.exports.append(record)

        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(reply)))
        handler.end_headers()
        handler.wfile.write(reply)

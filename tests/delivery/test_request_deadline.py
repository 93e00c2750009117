"""The export transport: export_timeout bounds the whole request, not each socket read (a collector
that drips its answer one byte at a time cannot hold an export, and everything queued behind it,
for longer); connections are kept alive and a dropped one is replaced; nothing from the
environment (proxies) and no redirect changes where the request goes."""

from __future__ import annotations

import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from botanu.export import OTLPHttpSpanExporter
from botanu.export._transport import DeadlineExceeded, Transport


class DrippingServer:
    """Reads a request, then sends an HTTP answer one byte every ``interval`` seconds."""

    def __init__(self, interval: float = 0.3) -> None:
        self.interval = interval
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.stopped = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self.stopped.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._drip, args=(conn,), daemon=True).start()

    def _drip(self, conn: socket.socket) -> None:
        answer = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
        try:
            conn.recv(65536)
            for byte in answer:
                if self.stopped.is_set():
                    return
                conn.sendall(bytes([byte]))
                time.sleep(self.interval)
        except OSError:
            pass
        finally:
            conn.close()

    def close(self) -> None:
        self.stopped.set()
        self.sock.close()


def test_a_dripping_collector_is_cut_off_at_the_deadline():
    server = DrippingServer()
    try:
        started = time.monotonic()
        with pytest.raises(DeadlineExceeded):
            Transport(f"http://127.0.0.1:{server.port}/v1/traces").post(b"x", {}, timeout=1.0, deadline=1.0)
        elapsed = time.monotonic() - started
        assert elapsed < 2.0, elapsed  # the answer alone would take 37 bytes x 0.3 s = 11 s
    finally:
        server.close()


def test_the_exporter_gives_up_on_a_dripping_collector_within_export_timeout():
    server = DrippingServer()
    try:
        exporter = OTLPHttpSpanExporter(f"http://127.0.0.1:{server.port}/v1/traces", timeout=1.0)
        started = time.monotonic()
        result = exporter.send_payload(b"\x00", 1, gzipped=False, window=0.0)
        elapsed = time.monotonic() - started
        assert not result.delivered and result.retryable
        assert result.reason == "the collector did not answer in time"
        assert elapsed < 2.0, elapsed
    finally:
        server.close()


def test_a_prompt_answer_is_unaffected(otlp_receiver):
    answer = Transport(otlp_receiver.endpoint).post(b"", {}, timeout=5.0, deadline=5.0)
    assert answer.status == 200


class _Counting(BaseHTTPRequestHandler):
    """Answers 200 (or what ``server.answer`` says) and counts requests and connections."""

    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        self.server.connections += 1  # type: ignore[attr-defined]

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.requests += 1  # type: ignore[attr-defined]
        status, headers, body = self.server.answer  # type: ignore[attr-defined]
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def counting_server():
    servers = []

    def start(status: int = 200, headers: dict[str, str] | None = None, body: bytes = b"") -> Any:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Counting)
        server.daemon_threads = True
        server.connections = server.requests = 0  # type: ignore[attr-defined]
        server.answer = (status, headers or {}, body)  # type: ignore[attr-defined]
        threading.Thread(target=server.serve_forever, daemon=True).start()
        server.url = f"http://127.0.0.1:{server.server_address[1]}/v1/traces"  # type: ignore[attr-defined]
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def test_requests_reuse_one_kept_alive_connection(counting_server):
    server = counting_server()
    transport = Transport(server.url)
    for _ in range(20):
        assert transport.post(b"x" * 1000, {}, timeout=5.0, deadline=5.0).status == 200
    assert server.requests == 20
    assert server.connections == 1


def test_a_connection_the_collector_closed_while_idle_is_replaced(counting_server):
    server = counting_server()
    transport = Transport(server.url)
    assert transport.post(b"x", {}, timeout=5.0, deadline=5.0).status == 200
    # The collector drops its idle keep-alive connections (as proxies and load balancers do).
    for connection in transport._idle:
        connection.sock.shutdown(socket.SHUT_RDWR)
    time.sleep(0.1)
    assert transport.post(b"x", {}, timeout=5.0, deadline=5.0).status == 200
    assert server.connections == 2


def test_a_large_answer_is_cut_and_its_connection_not_reused(counting_server):
    server = counting_server(body=b"z" * 200_000)
    transport = Transport(server.url)
    first = transport.post(b"x", {}, timeout=5.0, deadline=5.0)
    transport.post(b"x", {}, timeout=5.0, deadline=5.0)
    assert first.status == 200 and len(first.content) == 64 * 1024
    assert server.connections == 2


def test_proxy_variables_in_the_environment_are_not_used(counting_server, monkeypatch):
    collector, proxy = counting_server(), counting_server()
    proxy_url = proxy.url.rsplit("/v1/", 1)[0]
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY"):
        monkeypatch.setenv(name, proxy_url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    exporter = OTLPHttpSpanExporter(collector.url, api_key="k-123")
    assert exporter.send_payload(b"\x00", 1, gzipped=False, window=0.0).delivered
    assert collector.requests == 1 and proxy.requests == 0


def test_a_redirect_is_not_followed_so_the_api_key_stays_with_the_endpoint(counting_server):
    elsewhere = counting_server()
    collector = counting_server(307, {"Location": elsewhere.url})
    exporter = OTLPHttpSpanExporter(collector.url, api_key="k-123")
    result = exporter.send_payload(b"\x00", 1, gzipped=False, window=0.0)
    assert not result.delivered and not result.retryable and result.status == 307
    assert elsewhere.requests == 0


def test_an_endpoint_that_is_not_http_fails_each_export_without_retrying():
    exporter = OTLPHttpSpanExporter("ftp://127.0.0.1/v1/traces")
    result = exporter.send_payload(b"\x00", 1, gzipped=False)
    assert not result.delivered and not result.retryable and "http" in result.reason

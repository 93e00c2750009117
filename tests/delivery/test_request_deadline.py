"""export_timeout bounds the whole request, not each socket read: a collector that drips its answer
one byte at a time cannot hold an export (and everything queued behind it) for longer."""

from __future__ import annotations

import socket
import threading
import time

from botanu.export import OTLPHttpSpanExporter
from botanu.export._deadline import DeadlineExceeded, new_session, post_within


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
        try:
            post_within(
                new_session(), 1.0, f"http://127.0.0.1:{server.port}/v1/traces", data=b"x", timeout=1.0
            )
            raise AssertionError("the dripping answer should not have completed")
        except DeadlineExceeded:
            pass
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
    response = post_within(new_session(), 5.0, otlp_receiver.endpoint, data=b"", timeout=5.0)
    assert response.status_code == 200

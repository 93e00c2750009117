"""Wire-level faults the shared loopback receiver cannot script by itself.

* :func:`receiver_on` starts an :class:`OTLPReceiver` on a chosen port, so a test can
  run a process while "the collector is down" (nothing listens on the port) and
  bring the collector up on the same endpoint afterwards;
* :class:`ResettingProxy` sits in front of a receiver and resets the first
  connections in the middle of the request body (TCP RST), then forwards the rest.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from http.server import ThreadingHTTPServer
from unittest import mock

from tests.support import otlp_receiver as receiver_module
from tests.support.otlp_receiver import OTLPReceiver


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def endpoint_for(port: int) -> str:
    return f"http://127.0.0.1:{port}/v1/traces"


def receiver_on(port: int) -> OTLPReceiver:
    """An OTLPReceiver listening on ``port`` (the shared class always picks a free one)."""

    class FixedPortServer(ThreadingHTTPServer):
        def __init__(self, address: object, handler: type) -> None:
            super().__init__(("127.0.0.1", port), handler)

    with mock.patch.object(receiver_module, "ThreadingHTTPServer", FixedPortServer):
        return OTLPReceiver()


class ResettingProxy:
    """A TCP proxy whose first ``resets`` connections are reset halfway through the request body."""

    def __init__(self, upstream_port: int, resets: int = 1) -> None:
        self._upstream = upstream_port
        self._resets = resets
        self.reset_count = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.endpoint = endpoint_for(self.port)
        self._closed = False
        threading.Thread(target=self._accept, name="resetting-proxy", daemon=True).start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            if self._resets > 0:
                self._resets -= 1
                threading.Thread(target=self._reset_mid_body, args=(conn,), daemon=True).start()
            else:
                threading.Thread(target=self._forward, args=(conn,), daemon=True).start()

    def _reset_mid_body(self, conn: socket.socket) -> None:
        data = b""
        with contextlib.suppress(OSError):
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                data += chunk
            head, _, body = data.partition(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            while len(body) < max(1, length // 2):
                chunk = conn.recv(65536)
                if not chunk:
                    break
                body += chunk
            # SO_LINGER with a zero timeout turns close() into a TCP RST.
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.reset_count += 1
        conn.close()

    def _forward(self, conn: socket.socket) -> None:
        try:
            upstream = socket.create_connection(("127.0.0.1", self._upstream))
        except OSError:
            conn.close()
            return

        def pipe(src: socket.socket, dst: socket.socket) -> None:
            with contextlib.suppress(OSError):
                while chunk := src.recv(65536):
                    dst.sendall(chunk)
            with contextlib.suppress(OSError):
                dst.shutdown(socket.SHUT_WR)

        threading.Thread(target=pipe, args=(upstream, conn), daemon=True).start()
        pipe(conn, upstream)

    def close(self) -> None:
        self._closed = True
        self._listener.close()

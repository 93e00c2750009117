"""A loopback HTTP server for instrumentor tests: records every request it receives."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class SeenRequest:
    """One request as the server received it."""

    method: str
    path: str
    headers: list[tuple[str, str]]
    client_port: int

    def values(self, name: str) -> list[str]:
        """Every value of header ``name`` (case-insensitive), in order."""
        return [value for key, value in self.headers if key.lower() == name.lower()]


class _Handler(BaseHTTPRequestHandler):
    """Answers ``/status/<code>`` with that code, ``/drop`` by closing, anything else 200."""

    protocol_version = "HTTP/1.1"  # keep-alive, so connections can be reused
    # Each answer leaves in one write (headers and body together; flushed after each request).
    # Written in two, a client that pipelines can lose an answer: http.client reads the first
    # response through a buffered file, which may take in the next response's bytes with the
    # first one's late body, and the next response's own file then waits for bytes already taken.
    wbufsize = -1

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self.server.seen.append(  # type: ignore[attr-defined]
            SeenRequest(self.command, self.path, list(self.headers.items()), self.client_address[1])
        )
        if self.path.endswith("/drop"):
            self.close_connection = True  # no status line: the client sees RemoteDisconnected
            return
        status = int(self.path.rsplit("/", 1)[-1]) if "/status/" in self.path else 200
        body = b"ok"
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _answer

    def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
        pass


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        # Tests close connections without reading answers on purpose; a broken pipe
        # on the server side is expected, not news.
        pass


class LoopbackServer:
    """A ThreadingHTTPServer on 127.0.0.1 that records what it receives."""

    def __init__(self) -> None:
        self._httpd = _QuietServer(("127.0.0.1", 0), _Handler)
        self._httpd.seen = []  # type: ignore[attr-defined]
        self.port: int = self._httpd.server_address[1]
        # A short poll interval keeps shutdown() (once per test) quick.
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.02,), daemon=True)
        self._thread.start()

    @property
    def seen(self) -> list[SeenRequest]:
        return self._httpd.seen  # type: ignore[attr-defined]

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

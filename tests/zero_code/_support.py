"""Helpers for zero-code tests: a header-recording loopback server and subprocess runners."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[2]


class RecordingServer:
    """A loopback HTTP server that answers 200 and records each request's path and headers."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str]]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                server.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def headers_for(self, path: str) -> dict[str, str]:
        """Headers of the one request made to ``path`` (the query string is ignored)."""
        matches = [headers for seen, headers in self.requests if seen.split("?")[0] == path]
        assert len(matches) == 1, (path, [p for p, _ in self.requests])
        return matches[0]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def clean_env(**extra: str) -> dict[str, str]:
    """The environment for a child process: no OTEL_/BOTANU_ leftovers, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "BOTANU_"))}
    env.update(extra)
    return env


def run(args: list[str], env: dict[str, str], cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)


def baggage_entries(header: str | None) -> dict[str, str]:
    if not header:
        return {}
    out = {}
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        out[key] = value.split(";")[0]
    return out

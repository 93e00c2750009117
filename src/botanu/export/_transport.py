"""POST export requests to one collector URL: kept-alive connections, a deadline per request.

Why not ``requests``: on a small machine it costs about 1 ms of CPU per request, six
times what ``http.client`` costs for the same bytes, and the export thread competes with
the app for the GIL. What export needs from HTTP is narrow, and it is all here:

* one URL (``http`` or ``https``, certificates checked against ``certifi``'s bundle, as
  ``requests`` does), kept-alive connections reused, a dropped one noticed before reuse;
* nothing from the environment: no proxy, no netrc, and redirects are not followed, so
  the API key goes to the configured endpoint only;
* ``timeout`` bounds each socket operation, and ``deadline`` the whole request: a
  collector that answers one byte at a time is cut off when the deadline passes (one
  watchdog thread per process shuts the socket down, which ends the blocked read);
* the answer's body is read (bounded: an OTLP answer is small) before the connection is
  reused.
"""

from __future__ import annotations

import contextlib
import heapq
import http.client
import itertools
import os
import select
import socket
import ssl
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

# An OTLP answer is a small protobuf (partial success); an error page is cut to this much.
MAX_ANSWER_BYTES = 64 * 1024
_IDLE_CONNECTIONS = 2


class DeadlineExceeded(TimeoutError):
    """The whole request took longer than its deadline."""


@dataclass(frozen=True)
class Answer:
    """The collector's answer to one request."""

    status: int
    headers: Mapping[str, str]  # names in lower case
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")


class Transport:
    """Sends POST requests to ``url``; safe to use from several threads at once."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {parts.scheme}://{parts.hostname or ''}")
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port or (443 if self._https else 80)
        self._target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()
        self._ssl: ssl.SSLContext | None = None

    def post(self, body: bytes, headers: Mapping[str, str], *, timeout: float, deadline: float) -> Answer:
        """POST ``body``; ``timeout`` bounds each socket operation, ``deadline`` (seconds from now)
        the whole request. Raises ``OSError`` (``TimeoutError`` for both kinds of timeout)."""
        connection = self._take(timeout)
        watch = _watchdog.watch(time.monotonic() + deadline, connection)
        try:
            connection.request("POST", self._target, body=body, headers=dict(headers))
            response = connection.getresponse()
            content = response.read(MAX_ANSWER_BYTES + 1)
            reusable = not response.will_close and len(content) <= MAX_ANSWER_BYTES and response.isclosed()
            answer = Answer(
                response.status,
                {name.lower(): value for name, value in response.getheaders()},
                content[:MAX_ANSWER_BYTES],
            )
        except BaseException as error:
            connection.close()
            if watch.expired:
                raise DeadlineExceeded(f"no complete answer within {deadline:.1f} s") from error
            raise
        finally:
            _watchdog.release(watch)
        if watch.expired:
            connection.close()
            raise DeadlineExceeded(f"no complete answer within {deadline:.1f} s")
        if reusable:
            self._give_back(connection)
        else:
            connection.close()
        return answer

    def close(self) -> None:
        """Close the idle connections (one in use is closed when its request ends)."""
        with self._lock:
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()

    def after_fork_in_child(self) -> None:
        # The parent's connections are shared sockets: the child must open its own.
        self._lock = threading.Lock()
        self._idle = []

    # ----------------------------------------------------------------- connections

    def _take(self, timeout: float) -> http.client.HTTPConnection:
        while True:
            with self._lock:
                connection = self._idle.pop() if self._idle else None
            if connection is None:
                return self._connect(timeout)
            if _still_open(connection):
                connection.timeout = timeout
                if connection.sock is not None:
                    connection.sock.settimeout(timeout)
                return connection
            connection.close()  # the collector closed it while it was idle

    def _give_back(self, connection: http.client.HTTPConnection) -> None:
        with self._lock:
            if len(self._idle) < _IDLE_CONNECTIONS:
                self._idle.append(connection)
                return
        connection.close()

    def _connect(self, timeout: float) -> http.client.HTTPConnection:
        if not self._https:
            return http.client.HTTPConnection(self._host, self._port, timeout=timeout)
        if self._ssl is None:
            self._ssl = _ssl_context()
        return http.client.HTTPSConnection(self._host, self._port, timeout=timeout, context=self._ssl)


def _ssl_context() -> ssl.SSLContext:
    try:
        import certifi  # the bundle requests uses: the same collectors verify as before

        return ssl.create_default_context(cafile=certifi.where())
    except ImportError:
        return ssl.create_default_context()


def _still_open(connection: http.client.HTTPConnection) -> bool:
    """False when an idle kept-alive connection was closed (or written to) by the other side."""
    sock = connection.sock
    if sock is None:
        return False
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return False
    return not readable


# --------------------------------------------------------------------------- the watchdog


class _Watch:
    __slots__ = ("connection", "expired", "when")

    def __init__(self, when: float, connection: http.client.HTTPConnection) -> None:
        self.when = when
        self.connection = connection
        self.expired = False

    def cut_off(self) -> None:
        self.expired = True
        sock = self.connection.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class _Watchdog:
    """One thread that cuts off requests whose deadline passed (started on first use)."""

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self._condition = threading.Condition(threading.Lock())
        self._heap: list[tuple[float, int, _Watch]] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None

    def watch(self, when: float, connection: http.client.HTTPConnection) -> _Watch:
        watch = _Watch(when, connection)
        with self._condition:
            if len(self._heap) >= 256:  # finished requests with far deadlines: let them go now
                self._heap = [entry for entry in self._heap if entry[2].when >= 0]
                heapq.heapify(self._heap)
            heapq.heappush(self._heap, (when, next(self._order), watch))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="botanu-request-deadline", daemon=True)
                self._thread.start()
            elif self._heap[0][2] is watch:
                self._condition.notify()  # the new deadline is the nearest
        return watch

    def release(self, watch: _Watch) -> None:
        # Finished requests are dropped lazily from the heap (they are few: one per request in flight).
        watch.when = -1.0

    def _run(self) -> None:
        condition = self._condition
        while True:
            with condition:
                while self._heap and self._heap[0][2].when < 0:
                    heapq.heappop(self._heap)
                if not self._heap:
                    condition.wait()
                    continue
                when, _, watch = self._heap[0]
                delay = when - time.monotonic()
                if delay > 0:
                    condition.wait(delay)
                    continue
                heapq.heappop(self._heap)
            if watch.when >= 0:
                watch.cut_off()


_watchdog = _Watchdog()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_watchdog._reset)

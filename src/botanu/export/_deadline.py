"""A whole-request deadline for export requests.

``requests``' timeout bounds each socket operation, not the request: a collector that
answers one byte every two seconds keeps a "10 s timeout" request open for as long as
it likes, and every batch behind it waits. Here each request gets a watchdog: when the
deadline passes, the socket the request is using is shut down, which ends the blocked
read at once, and the request fails as timed out.

The connection in use is found through the connection pool: the pool classes below
hand each connection they give out to the request being sent from that thread.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool


class _Request:
    """One request in flight: the connection it uses (set by the pool), and whether time ran out."""

    __slots__ = ("conn", "expired")

    def __init__(self) -> None:
        self.conn: Any = None
        self.expired = False

    def cut_off(self) -> None:
        self.expired = True
        sock = getattr(self.conn, "sock", None)
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


_sending = threading.local()  # .request: the _Request this thread is sending, if any


def _note(conn: Any) -> Any:
    request = getattr(_sending, "request", None)
    if request is not None:
        request.conn = conn
        if request.expired:  # the deadline passed while the connection was being taken
            request.cut_off()
    return conn


class _NotingPool(HTTPConnectionPool):
    def _get_conn(self, timeout: float | None = None) -> Any:
        return _note(super()._get_conn(timeout))


class _NotingHTTPSPool(HTTPSConnectionPool):
    def _get_conn(self, timeout: float | None = None) -> Any:
        return _note(super()._get_conn(timeout))


class _DeadlineAdapter(HTTPAdapter):
    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _NotingPool, "https": _NotingHTTPSPool}


def new_session() -> requests.Session:
    """A session whose requests :func:`post_within` can cut off."""
    session = requests.Session()
    adapter = _DeadlineAdapter()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


class DeadlineExceeded(requests.exceptions.Timeout):
    """The whole request took longer than its deadline."""


def post_within(session: requests.Session, seconds: float, url: str, **kwargs: Any) -> requests.Response:
    """``session.post(url, ...)``, failing with :class:`DeadlineExceeded` after ``seconds`` in all.

    The response body is read before returning (an OTLP answer is small), so the deadline
    covers it too.
    """
    request = _Request()
    timer = threading.Timer(max(0.0, seconds), request.cut_off)
    timer.daemon = True
    _sending.request = request
    timer.start()
    try:
        response = session.post(url, **kwargs)
        _ = response.content
    except requests.exceptions.RequestException as error:
        if request.expired:
            raise DeadlineExceeded(f"no complete answer within {seconds:.1f} s") from error
        raise
    finally:
        timer.cancel()
        _sending.request = None
    if request.expired:
        response.close()  # its connection was shut down: it must not go back to the pool
        raise DeadlineExceeded(f"no complete answer within {seconds:.1f} s")
    return response

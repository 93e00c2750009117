"""A redirect from an allowed host to another host must not carry business identity along."""

from __future__ import annotations

import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from opentelemetry import baggage, context

from botanu._config import resolve_settings
from botanu.propagation import install, strip_identity


class _Server:
    def __init__(self, handler_factory):
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler_factory(self))
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.seen: list[str | None] = []
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def _recording(server):
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            server.seen.append(self.headers.get("baggage"))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    return Handler


@pytest.fixture
def third_party():
    server = _Server(_recording)
    yield server
    server.close()


def _redirecting_to(location: str):
    """A handler factory for a server that records each request's baggage and answers 302."""

    def factory(server):
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                server.seen.append(self.headers.get("baggage"))
                self.send_response(302)
                self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        return Handler

    return factory


@pytest.fixture
def redirector(third_party):
    # The allowed host is "localhost"; the target is the same machine under another name.
    server = _Server(_redirecting_to(f"http://127.0.0.1:{third_party.port}/object"))
    yield server
    server.close()


@pytest.fixture
def identity_header():
    install(resolve_settings({"propagate_to": ["localhost"]}, {}))
    ctx = baggage.set_baggage("botanu.run_id", "r-1")
    ctx = baggage.set_baggage("botanu.customer_id", "acme", ctx)
    token = context.attach(ctx)
    yield "botanu.run_id=r-1,botanu.customer_id=acme"
    context.detach(token)


def test_strip_identity_keeps_other_entries():
    assert strip_identity("botanu.run_id=r,botanu.customer_id=c,app=1") == "botanu.run_id=r,app=1"


def test_requests_redirect_strips_identity(redirector, third_party, identity_header):
    requests.get(f"http://localhost:{redirector.port}/", headers={"baggage": identity_header}, timeout=5)
    assert redirector.seen == [identity_header]
    assert third_party.seen == ["botanu.run_id=r-1"]


def test_urllib_redirect_strips_identity(redirector, third_party, identity_header):
    request = urllib.request.Request(
        f"http://localhost:{redirector.port}/", headers={"baggage": identity_header}
    )
    urllib.request.urlopen(request, timeout=5).read()
    assert redirector.seen == [identity_header]
    assert third_party.seen == ["botanu.run_id=r-1"]


def test_aiohttp_redirect_strips_identity(redirector, third_party, identity_header):
    import asyncio

    import aiohttp

    async def call() -> None:
        async with aiohttp.ClientSession() as session:
            url = f"http://localhost:{redirector.port}/"
            async with session.get(url, headers={"baggage": identity_header}) as response:
                await response.read()

    asyncio.run(call())
    assert redirector.seen == [identity_header]
    assert third_party.seen == ["botanu.run_id=r-1"]


def test_aiohttp_redirect_to_an_allowed_host_keeps_identity(redirector, third_party):
    import asyncio

    import aiohttp

    install(resolve_settings({"propagate_to": ["localhost", "127.0.0.1"]}, {}))
    header = "botanu.run_id=r-1,botanu.customer_id=acme"

    async def call() -> None:
        async with aiohttp.ClientSession(trace_configs=[aiohttp.TraceConfig()]) as session:
            async with session.get(f"http://localhost:{redirector.port}/", headers={"baggage": header}) as r:
                await r.read()

    asyncio.run(call())
    assert third_party.seen == [header]


def test_aiohttp_malformed_redirect_still_raises_aiohttps_own_error(identity_header):
    import asyncio

    import aiohttp

    server = _Server(_redirecting_to("http://[::1"))
    try:

        async def call() -> None:
            async with aiohttp.ClientSession() as session:
                async with session.get(
                    f"http://localhost:{server.port}/", headers={"baggage": identity_header}
                ):
                    pass

        with pytest.raises(aiohttp.ClientError):
            asyncio.run(call())
    finally:
        server.close()


# -- httpx2: botanu's instrumentor injects anew on every hop; the copied header is replaced ------


@pytest.fixture
def httpx2_traced():
    """httpx2 traced by botanu's instrumentor with a recording provider (the rule reads its span)."""
    httpx2 = pytest.importorskip("httpx2")
    from opentelemetry.sdk.trace import TracerProvider

    from botanu_instrumentation.httpx2 import HTTPX2Instrumentor

    instrumentor = HTTPX2Instrumentor()
    instrumentor.instrument(tracer_provider=TracerProvider())
    yield httpx2
    instrumentor.uninstrument()


def _httpx2_get(httpx2, mode: str, url: str, headers: dict[str, str]) -> int:
    if mode == "sync":
        with httpx2.Client(follow_redirects=True, timeout=5) as client:
            return client.get(url, headers=headers).status_code

    import asyncio

    async def call() -> int:
        async with httpx2.AsyncClient(follow_redirects=True, timeout=5) as client:
            return (await client.get(url, headers=headers)).status_code

    return asyncio.run(call())


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_httpx2_redirect_strips_identity(redirector, third_party, identity_header, httpx2_traced, mode):
    url = f"http://localhost:{redirector.port}/"
    assert _httpx2_get(httpx2_traced, mode, url, {"baggage": identity_header}) == 200
    assert redirector.seen == [identity_header]
    assert third_party.seen == ["botanu.run_id=r-1"]


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_httpx2_redirect_drops_a_header_that_only_held_identity(redirector, third_party, httpx2_traced, mode):
    install(resolve_settings({"propagate_to": ["localhost"]}, {}))
    token = context.attach(baggage.set_baggage("botanu.customer_id", "acme"))
    try:
        assert _httpx2_get(httpx2_traced, mode, f"http://localhost:{redirector.port}/", {}) == 200
    finally:
        context.detach(token)
    assert redirector.seen == ["botanu.customer_id=acme"]
    assert third_party.seen == [None]  # httpx2 copied the header; nothing of it may reach the third party


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_httpx2_redirect_to_an_allowed_host_keeps_identity(redirector, third_party, httpx2_traced, mode):
    install(resolve_settings({"propagate_to": ["localhost", "127.0.0.1"]}, {}))
    header = "botanu.run_id=r-1,botanu.customer_id=acme"
    token = context.attach(
        baggage.set_baggage("botanu.customer_id", "acme", baggage.set_baggage("botanu.run_id", "r-1"))
    )
    try:
        assert _httpx2_get(httpx2_traced, mode, f"http://localhost:{redirector.port}/", {}) == 200
    finally:
        context.detach(token)
    assert redirector.seen == [header]
    assert third_party.seen == [header]

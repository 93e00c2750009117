"""HTTPX2Instrumentor with real httpx2 clients (sync and async) against a real loopback server."""

from __future__ import annotations

import asyncio
import http.client
import logging
import socket
from collections.abc import Iterator

import pytest
import wrapt
from opentelemetry import baggage, context
from opentelemetry.instrumentation.utils import (
    suppress_http_instrumentation,
    suppress_instrumentation,
    unwrap,
)
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from botanu_instrumentation.http_client import HTTPClientInstrumentor
from botanu_instrumentation.httpx2 import HTTPX2Instrumentor, _hooks

from ._loopback import LoopbackServer

httpx2 = pytest.importorskip("httpx2")

_SCOPE = "botanu_instrumentation.httpx2"
_TIMEOUT = 5
# What the instrumentor wraps in httpx2 2.16 (the clients' per-request send).
_TARGETS = ((httpx2.Client, "_send_single_request"), (httpx2.AsyncClient, "_send_single_request"))
_TRANSPORTS = ((httpx2.HTTPTransport, "handle_request"), (httpx2.AsyncHTTPTransport, "handle_async_request"))


@pytest.fixture(autouse=True)
def _httpx2_left_pristine() -> Iterator[None]:
    """Every test must leave httpx2 unpatched, or later tests elsewhere would be traced."""
    yield
    patched = [
        f"{owner.__name__}.{name}"
        for owner, name in (*_TARGETS, *_TRANSPORTS)
        if hasattr(owner.__dict__[name], "__wrapped__")
    ]
    assert patched == [], f"httpx2 still wrapped: {patched}"


@pytest.fixture
def instrumented(provider: TracerProvider, exporter: InMemorySpanExporter) -> Iterator[InMemorySpanExporter]:
    """httpx2 instrumented with the local provider; always uninstrumented afterwards."""
    instrumentor = HTTPX2Instrumentor()
    instrumentor.instrument(tracer_provider=provider)
    try:
        yield exporter
    finally:
        instrumentor.uninstrument()


def _get(url: str, **kwargs: object) -> int:
    with httpx2.Client(timeout=_TIMEOUT) as client:
        return client.get(url, **kwargs).status_code


def _get_async(url: str, **kwargs: object) -> int:
    async def call() -> int:
        async with httpx2.AsyncClient(timeout=_TIMEOUT) as client:
            return (await client.get(url, **kwargs)).status_code

    return asyncio.run(call())


CALLS = pytest.mark.parametrize("get", [_get, _get_async], ids=["sync", "async"])


def _span_id(span: ReadableSpan) -> str:
    return format(span.context.span_id, "016x")


def _parent_span_id(traceparent: str) -> str:
    return traceparent.split("-")[2]


def _only_span(exporter: InMemorySpanExporter) -> ReadableSpan:
    spans = exporter.get_finished_spans()
    assert len(spans) == 1, [(span.name, span.instrumentation_scope.name) for span in spans]
    return spans[0]


def _refused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- one span per request ----------------------------------------------------------------


@CALLS
def test_one_client_span_with_stable_semconv(
    instrumented: InMemorySpanExporter, server: LoopbackServer, get
) -> None:
    assert get(server.url("/hello?q=1")) == 200

    span = _only_span(instrumented)
    assert span.name == "GET"
    assert span.kind is SpanKind.CLIENT
    assert span.instrumentation_scope.name == _SCOPE
    assert dict(span.attributes) == {
        "http.request.method": "GET",
        "url.full": f"http://127.0.0.1:{server.port}/hello?q=1",
        "server.address": "127.0.0.1",
        "server.port": server.port,
        "network.protocol.version": "1.1",
        "http.response.status_code": 200,
    }
    assert span.status.status_code is StatusCode.UNSET
    [seen] = server.seen
    [traceparent] = seen.values("traceparent")
    assert _parent_span_id(traceparent) == _span_id(span)


def test_post_with_body_and_keep_alive(instrumented: InMemorySpanExporter, server: LoopbackServer) -> None:
    with httpx2.Client(timeout=_TIMEOUT) as client:
        for path in ("/one", "/two"):
            assert client.post(server.url(path), content=b"payload").status_code == 200

    spans = instrumented.get_finished_spans()
    assert [span.name for span in spans] == ["POST", "POST"]
    assert [span.attributes["url.full"].rsplit("/", 1)[-1] for span in spans] == ["one", "two"]
    assert len({seen.client_port for seen in server.seen}) == 1  # really one pooled connection
    sent = [_parent_span_id(seen.values("traceparent")[0]) for seen in server.seen]
    assert sent == [_span_id(span) for span in spans]


@CALLS
@pytest.mark.parametrize("status", [404, 500])
def test_error_status_marks_span_error(
    instrumented: InMemorySpanExporter, server: LoopbackServer, status: int, get
) -> None:
    assert get(server.url(f"/status/{status}")) == status

    span = _only_span(instrumented)
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["http.response.status_code"] == status
    assert span.attributes["error.type"] == str(status)


def test_3xx_is_not_an_error(instrumented: InMemorySpanExporter, server: LoopbackServer) -> None:
    assert _get(server.url("/status/304")) == 304
    span = _only_span(instrumented)
    assert span.status.status_code is StatusCode.UNSET
    assert "error.type" not in span.attributes


def test_unknown_method_is_reported_as_other(
    instrumented: InMemorySpanExporter, server: LoopbackServer
) -> None:
    with httpx2.Client(timeout=_TIMEOUT) as client:
        assert client.request("PURGE", server.url("/cache")).status_code == 501

    span = _only_span(instrumented)
    assert span.name == "HTTP"
    assert span.attributes["http.request.method"] == "_OTHER"
    assert span.attributes["http.request.method_original"] == "PURGE"


def test_userinfo_never_reaches_the_span(instrumented: InMemorySpanExporter, server: LoopbackServer) -> None:
    assert _get(f"http://alice:s3cret-pass@127.0.0.1:{server.port}/private") == 200

    span = _only_span(instrumented)
    assert span.attributes["url.full"] == server.url("/private")
    assert "s3cret" not in str(dict(span.attributes))


@CALLS
def test_span_is_child_of_current_span(
    instrumented: InMemorySpanExporter, server: LoopbackServer, provider: TracerProvider, get
) -> None:
    with provider.get_tracer("test").start_as_current_span("work") as parent:
        get(server.url("/child"))

    client = next(span for span in instrumented.get_finished_spans() if span.kind is SpanKind.CLIENT)
    assert client.parent is not None
    assert client.parent.span_id == parent.get_span_context().span_id
    assert client.context.trace_id == parent.get_span_context().trace_id


@CALLS
def test_each_redirect_hop_is_its_own_span(
    instrumented: InMemorySpanExporter, server: LoopbackServer, get
) -> None:
    redirector = _Redirector(server.url("/target"))
    try:
        assert get(redirector.url, follow_redirects=True) == 200
    finally:
        redirector.close()

    first, second = instrumented.get_finished_spans()
    assert first.attributes["http.response.status_code"] == 302
    assert first.attributes["server.port"] == redirector.port
    assert second.attributes["url.full"] == server.url("/target")
    assert _parent_span_id(redirector.traceparent) == _span_id(first)
    # The first hop's traceparent, copied by httpx2 to the redirect, was replaced: the target
    # names the second span.
    [seen] = server.seen
    assert [_parent_span_id(value) for value in seen.values("traceparent")] == [_span_id(second)]


# -- failures: recorded on the span, the client's own exception reaches the app ----------------


@CALLS
def test_connection_refused_is_recorded_and_reraised(instrumented: InMemorySpanExporter, get) -> None:
    port = _refused_port()
    with pytest.raises(httpx2.ConnectError):
        get(f"http://127.0.0.1:{port}/")

    span = _only_span(instrumented)
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "httpx2.ConnectError"
    assert span.attributes["server.port"] == port
    assert "http.response.status_code" not in span.attributes
    [event] = span.events
    assert event.name == "exception"
    assert event.attributes["exception.type"] == span.attributes["error.type"]


@CALLS
def test_server_hanging_up_is_recorded_and_reraised(
    instrumented: InMemorySpanExporter, server: LoopbackServer, get
) -> None:
    with pytest.raises(httpx2.RemoteProtocolError):
        get(server.url("/drop"))

    span = _only_span(instrumented)
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "httpx2.RemoteProtocolError"


def test_async_cancellation_ends_the_span_and_propagates(instrumented: InMemorySpanExporter) -> None:
    """A request cancelled while waiting for the answer: the span ends, CancelledError reaches the app."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()  # accepts the connection in the kernel, never answers
    port = listener.getsockname()[1]

    async def call() -> None:
        async with httpx2.AsyncClient(timeout=_TIMEOUT) as client:
            task = asyncio.create_task(client.get(f"http://127.0.0.1:{port}/slow"))
            await asyncio.sleep(0.2)
            task.cancel()
            await task

    try:
        with pytest.raises(asyncio.CancelledError):
            asyncio.run(call())
    finally:
        listener.close()

    span = _only_span(instrumented)
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "asyncio.exceptions.CancelledError"


# -- propagation ---------------------------------------------------------------------------


@CALLS
def test_baggage_reaches_the_server(instrumented: InMemorySpanExporter, server: LoopbackServer, get) -> None:
    token = context.attach(baggage.set_baggage("botanu.run_id", "run-123"))
    try:
        get(server.url("/with-baggage"))
    finally:
        context.detach(token)

    [seen] = server.seen
    assert seen.values("baggage") == ["botanu.run_id=run-123"]
    assert len(seen.values("traceparent")) == 1


@CALLS
@pytest.mark.parametrize("suppress", [suppress_instrumentation, suppress_http_instrumentation])
def test_suppressed_context_makes_no_span_and_sends_no_context(
    instrumented: InMemorySpanExporter, server: LoopbackServer, suppress, get
) -> None:
    with suppress():
        get(server.url("/quiet"))

    assert instrumented.get_finished_spans() == ()
    assert server.seen[0].values("traceparent") == []


def test_excluded_urls(
    provider: TracerProvider, exporter: InMemorySpanExporter, server: LoopbackServer
) -> None:
    instrumentor = HTTPX2Instrumentor()
    instrumentor.instrument(tracer_provider=provider, excluded_urls="/health$, /metrics")
    try:
        _get(server.url("/health"))
        _get(server.url("/work"))
    finally:
        instrumentor.uninstrument()

    assert [span.attributes["url.full"].rsplit("/", 1)[-1] for span in exporter.get_finished_spans()] == [
        "work"
    ]


def test_excluded_urls_from_the_environment(
    provider: TracerProvider,
    exporter: InMemorySpanExporter,
    server: LoopbackServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OTEL_PYTHON_EXCLUDED_URLS", "/everything")
    monkeypatch.setenv("OTEL_PYTHON_HTTPX2_EXCLUDED_URLS", "/health")  # the specific one wins
    instrumentor = HTTPX2Instrumentor()
    instrumentor.instrument(tracer_provider=provider)
    try:
        _get(server.url("/health"))
        _get(server.url("/everything"))
    finally:
        instrumentor.uninstrument()

    assert [span.attributes["url.full"] for span in exporter.get_finished_spans()] == [
        server.url("/everything")
    ]


# -- de-duplication ------------------------------------------------------------------------


@pytest.mark.parametrize("method_key", ["http.request.method", "http.method"])
def test_current_http_client_span_from_elsewhere_is_not_duplicated(
    instrumented: InMemorySpanExporter, server: LoopbackServer, provider: TracerProvider, method_key: str
) -> None:
    tracer = provider.get_tracer("some.other.http.instrumentation")
    with tracer.start_as_current_span("GET", kind=SpanKind.CLIENT, attributes={method_key: "GET"}):
        _get(server.url("/outer-owned"))

    assert _only_span(instrumented).instrumentation_scope.name == "some.other.http.instrumentation"
    assert server.seen[0].values("traceparent") == []


def test_llm_span_still_gets_an_http_child(
    instrumented: InMemorySpanExporter, server: LoopbackServer, provider: TracerProvider
) -> None:
    tracer = provider.get_tracer("llm")
    with tracer.start_as_current_span(
        "chat", kind=SpanKind.CLIENT, attributes={"gen_ai.operation.name": "chat"}
    ):
        _get(server.url("/v1/chat/completions"))

    assert sorted(span.name for span in instrumented.get_finished_spans()) == ["GET", "chat"]


class _HttpClientTransport(httpx2.BaseTransport):
    """A transport that sends through the stdlib http.client: httpx2 over another instrumented layer."""

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        conn = http.client.HTTPConnection(request.url.host, request.url.port, timeout=_TIMEOUT)
        try:
            conn.request(request.method, request.url.raw_path.decode(), headers=dict(request.headers))
            response = conn.getresponse()
            return httpx2.Response(response.status, headers=response.getheaders(), content=response.read())
        finally:
            conn.close()


def test_httpx2_over_instrumented_http_client_gives_one_span(
    instrumented: InMemorySpanExporter, server: LoopbackServer, provider: TracerProvider
) -> None:
    http_client = HTTPClientInstrumentor()
    http_client.instrument(tracer_provider=provider)
    try:
        with httpx2.Client(transport=_HttpClientTransport()) as client:
            assert client.get(server.url("/layered")).status_code == 200
    finally:
        http_client.uninstrument()

    span = _only_span(instrumented)
    assert span.instrumentation_scope.name == _SCOPE
    [traceparent] = server.seen[0].values("traceparent")
    assert _parent_span_id(traceparent) == _span_id(span)


# -- never break the host app ----------------------------------------------------------------


@CALLS
def test_internal_failure_never_breaks_the_request(
    instrumented: InMemorySpanExporter,
    server: LoopbackServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    get,
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("instrumentation bug")

    monkeypatch.setattr(_hooks._attributes, "request_attributes", broken)
    monkeypatch.setattr("botanu_instrumentation._guard._reported", set())
    with caplog.at_level(logging.WARNING, logger="botanu.instrumentation"):
        assert get(server.url("/a")) == 200
        assert get(server.url("/b")) == 200

    assert instrumented.get_finished_spans() == ()
    warnings = [record for record in caplog.records if record.levelno == logging.WARNING]
    assert len(warnings) == 1  # logged once, not per request
    assert "httpx2 span start" in warnings[0].getMessage()


def test_failure_while_ending_still_returns_the_response(
    instrumented: InMemorySpanExporter, server: LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("instrumentation bug")

    monkeypatch.setattr(_hooks._attributes, "response_attributes", broken)
    monkeypatch.setattr("botanu_instrumentation._guard._reported", set())
    assert _get(server.url("/ending")) == 200

    span = _only_span(instrumented)  # ended all the same, without the response attributes
    assert "http.response.status_code" not in span.attributes


def test_broken_propagator_still_traces_and_sends(
    instrumented: InMemorySpanExporter, server: LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("propagator bug")

    monkeypatch.setattr(_hooks.propagate, "inject", broken)
    monkeypatch.setattr("botanu_instrumentation._guard._reported", set())
    assert _get(server.url("/no-propagation")) == 200

    assert _only_span(instrumented).attributes["http.response.status_code"] == 200
    assert server.seen[0].values("traceparent") == []


# -- instrument / uninstrument -----------------------------------------------------------------


def test_dependencies_name_httpx2() -> None:
    assert [dep.split()[0] for dep in HTTPX2Instrumentor().instrumentation_dependencies()] == ["httpx2"]


def test_uninstrument_restores_httpx2(
    provider: TracerProvider, exporter: InMemorySpanExporter, server: LoopbackServer
) -> None:
    originals = {owner: owner.__dict__[name] for owner, name in _TARGETS}
    instrumentor = HTTPX2Instrumentor()
    instrumentor.instrument(tracer_provider=provider)
    assert all(owner.__dict__[name] is not originals[owner] for owner, name in _TARGETS)
    instrumentor.uninstrument()

    assert all(owner.__dict__[name] is originals[owner] for owner, name in _TARGETS)
    _get(server.url("/after"))
    assert exporter.get_finished_spans() == ()
    assert server.seen[0].values("traceparent") == []

    instrumentor.instrument(tracer_provider=provider)  # and it can be instrumented again
    try:
        _get(server.url("/again"))
    finally:
        instrumentor.uninstrument()
    assert len(exporter.get_finished_spans()) == 1


def test_uninstrument_under_a_foreign_wrapper_disables_ours(
    provider: TracerProvider,
    exporter: InMemorySpanExporter,
    server: LoopbackServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    instrumentor = HTTPX2Instrumentor()
    instrumentor.instrument(tracer_provider=provider)
    wrapt.wrap_function_wrapper(
        httpx2.Client, "_send_single_request", lambda wrapped, _, args, kwargs: wrapped(*args, **kwargs)
    )
    foreign = httpx2.Client.__dict__["_send_single_request"]
    try:
        with caplog.at_level(logging.WARNING, logger="botanu.instrumentation"):
            instrumentor.uninstrument()
        assert httpx2.Client.__dict__["_send_single_request"] is foreign  # theirs is left alone
        assert "re-wrapped by another library" in caplog.text
        _get(server.url("/after"))
        assert exporter.get_finished_spans() == ()
    finally:
        unwrap(httpx2.Client, "_send_single_request")  # theirs
        unwrap(httpx2.Client, "_send_single_request")  # ours, disabled underneath


class _Redirector:
    """A loopback server that answers every GET with a 302 to ``location`` and keeps its traceparent."""

    def __init__(self, location: str) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                owner.traceparent = self.headers.get("traceparent", "")
                self.send_response(302)
                self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.traceparent = ""
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/start"
        threading.Thread(target=self._httpd.serve_forever, args=(0.02,), daemon=True).start()

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


@pytest.mark.parametrize("get", [_get, _get_async], ids=["sync", "async"])
def test_an_httpx2_without_the_client_method_is_traced_at_the_transport(
    provider: TracerProvider,
    exporter: InMemorySpanExporter,
    server: LoopbackServer,
    monkeypatch: pytest.MonkeyPatch,
    get,
) -> None:
    from botanu_instrumentation.httpx2 import _instrumentor

    missing = (("Client", "_gone", "send"), ("AsyncClient", "_gone", "send_async"))
    monkeypatch.setattr(_instrumentor, "_CLIENT_SEND", missing)
    instrumentor = HTTPX2Instrumentor()
    instrumentor.instrument(tracer_provider=provider)
    try:
        assert all(hasattr(owner.__dict__[name], "__wrapped__") for owner, name in _TRANSPORTS)
        assert get(server.url("/fallback")) == 200
    finally:
        instrumentor.uninstrument()

    span = _only_span(exporter)
    assert span.attributes["url.full"] == server.url("/fallback")
    [traceparent] = server.seen[0].values("traceparent")
    assert _parent_span_id(traceparent) == _span_id(span)


def test_streamed_response_gives_one_span(instrumented: InMemorySpanExporter, server: LoopbackServer) -> None:
    with httpx2.Client(timeout=_TIMEOUT) as client:
        with client.stream("GET", server.url("/stream")) as response:
            assert response.read() == b"ok"

    assert _only_span(instrumented).attributes["http.response.status_code"] == 200


def test_in_process_wsgi_app_is_not_a_client_call_and_its_own_calls_are_traced(
    instrumented: InMemorySpanExporter, server: LoopbackServer
) -> None:
    """httpx2's WSGI transport calls an app in this process: no CLIENT span for it, and no
    suppression leaks into the app, whose real outgoing call is traced as usual."""

    def app(environ: dict, start_response) -> list[bytes]:
        status = _get(server.url("/from-inside-the-app"))
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [str(status).encode()]

    with httpx2.Client(transport=httpx2.WSGITransport(app=app)) as client:
        assert client.get("http://in-process.test/").text == "200"

    span = _only_span(instrumented)
    assert span.attributes["url.full"] == server.url("/from-inside-the-app")
    assert len(server.seen[0].values("traceparent")) == 1


@pytest.mark.parametrize(
    ("url", "full", "address", "port"),
    [
        (
            "https://API.Example.com/v1/chat?x=1",
            "https://api.example.com/v1/chat?x=1",
            "api.example.com",
            443,
        ),
        ("http://[::1]:8080/p", "http://[::1]:8080/p", "::1", 8080),
        ("http://bücher.example/", "http://xn--bcher-kva.example/", "xn--bcher-kva.example", 80),
        ("https://user:pw@host.example:8443", "https://host.example:8443/", "host.example", 8443),
    ],
)
def test_request_attributes(url: str, full: str, address: str, port: int) -> None:
    from botanu_instrumentation.httpx2 import _attributes

    attributes = _attributes.request_attributes(httpx2.Request("GET", url))
    assert attributes == {
        "http.request.method": "GET",
        "url.full": full,
        "server.address": address,
        "server.port": port,
    }

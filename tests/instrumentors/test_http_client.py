"""HTTPClientInstrumentor against a real loopback server and the real http.client."""

from __future__ import annotations

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

from botanu_instrumentation.http_client import HTTPClientInstrumentor, _hooks

from ._loopback import LoopbackServer

_METHODS = ("putrequest", "putheader", "endheaders", "send", "getresponse", "close")
_TIMEOUT = 5


def _connect(server: LoopbackServer) -> http.client.HTTPConnection:
    return http.client.HTTPConnection("127.0.0.1", server.port, timeout=_TIMEOUT)


def _get(server: LoopbackServer, path: str, headers: dict[str, str] | None = None) -> int:
    conn = _connect(server)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def _span_id(span: ReadableSpan) -> str:
    return format(span.context.span_id, "016x")


def _parent_span_id(traceparent: str) -> str:
    return traceparent.split("-")[2]


def _only_span(exporter: InMemorySpanExporter) -> ReadableSpan:
    spans = exporter.get_finished_spans()
    assert len(spans) == 1, [span.name for span in spans]
    return spans[0]


def _refused_port() -> int:
    """A loopback port with nothing listening (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- one span per request ----------------------------------------------------------------


def test_request_api_makes_one_client_span(
    instrumented: InMemorySpanExporter, server: LoopbackServer
) -> None:
    assert _get(server, "/hello?q=1") == 200

    span = _only_span(instrumented)
    assert span.name == "GET"
    assert span.kind is SpanKind.CLIENT
    assert span.instrumentation_scope.name == "botanu_instrumentation.http_client"
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


def test_low_level_api(instrumented: InMemorySpanExporter, server: LoopbackServer) -> None:
    conn = _connect(server)
    conn.putrequest("POST", "/submit")
    conn.putheader("Content-Type", "text/plain")
    conn.putheader("Content-Length", "5")
    conn.endheaders()
    conn.send(b"hello")
    response = conn.getresponse()
    response.read()
    conn.close()

    span = _only_span(instrumented)
    assert span.name == "POST"
    assert span.attributes["url.full"] == f"http://127.0.0.1:{server.port}/submit"
    assert span.attributes["http.response.status_code"] == 200
    [seen] = server.seen
    assert seen.method == "POST"
    assert _parent_span_id(seen.values("traceparent")[0]) == _span_id(span)


def test_span_is_child_of_current_span(
    instrumented: InMemorySpanExporter, server: LoopbackServer, provider: TracerProvider
) -> None:
    with provider.get_tracer("test").start_as_current_span("work") as parent:
        _get(server, "/child")

    client = next(span for span in instrumented.get_finished_spans() if span.kind is SpanKind.CLIENT)
    assert client.parent is not None
    assert client.parent.span_id == parent.get_span_context().span_id
    assert client.context.trace_id == parent.get_span_context().trace_id


@pytest.mark.parametrize("status", [404, 500])
def test_error_status_marks_span_error(
    instrumented: InMemorySpanExporter, server: LoopbackServer, status: int
) -> None:
    assert _get(server, f"/status/{status}") == status

    span = _only_span(instrumented)
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["http.response.status_code"] == status
    assert span.attributes["error.type"] == str(status)


def test_3xx_is_not_an_error(instrumented: InMemorySpanExporter, server: LoopbackServer) -> None:
    assert _get(server, "/status/304") == 304
    span = _only_span(instrumented)
    assert span.status.status_code is StatusCode.UNSET
    assert "error.type" not in span.attributes


def test_unknown_method_is_reported_as_other(
    instrumented: InMemorySpanExporter, server: LoopbackServer
) -> None:
    conn = _connect(server)
    conn.request("get", "/")  # methods are case-sensitive; the server answers 501
    conn.getresponse().read()
    conn.close()

    span = _only_span(instrumented)
    assert span.name == "HTTP"
    assert span.attributes["http.request.method"] == "_OTHER"
    assert span.attributes["http.request.method_original"] == "get"
    assert span.attributes["http.response.status_code"] == 501


# -- failures ----------------------------------------------------------------------------


def test_connection_refused_is_recorded_and_reraised(instrumented: InMemorySpanExporter) -> None:
    port = _refused_port()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=_TIMEOUT)
    with pytest.raises(ConnectionRefusedError):
        conn.request("GET", "/")
    conn.close()

    span = _only_span(instrumented)
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "ConnectionRefusedError"
    assert span.attributes["server.port"] == port
    assert "http.response.status_code" not in span.attributes
    [event] = span.events
    assert event.name == "exception"
    assert event.attributes["exception.type"] == "ConnectionRefusedError"


def test_server_hanging_up_is_recorded_and_reraised(
    instrumented: InMemorySpanExporter, server: LoopbackServer
) -> None:
    conn = _connect(server)
    conn.request("GET", "/drop")
    with pytest.raises(http.client.RemoteDisconnected):
        conn.getresponse()
    conn.close()

    span = _only_span(instrumented)
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "http.client.RemoteDisconnected"
    assert span.events[0].attributes["exception.type"] == "http.client.RemoteDisconnected"


def test_request_without_response_ends_on_close(
    instrumented: InMemorySpanExporter, server: LoopbackServer
) -> None:
    conn = _connect(server)
    conn.putrequest("GET", "/never-read")
    conn.endheaders()
    assert instrumented.get_finished_spans() == ()  # still in flight
    conn.close()

    span = _only_span(instrumented)
    assert span.end_time is not None
    assert "http.response.status_code" not in span.attributes
    assert span.status.status_code is StatusCode.UNSET


def test_body_send_failure_is_reported_when_the_request_is_abandoned(
    instrumented: InMemorySpanExporter, server: LoopbackServer
) -> None:
    class BrokenSocket:
        def sendall(self, data: bytes) -> None:
            raise BrokenPipeError(32, "Broken pipe")

        def close(self) -> None:
            pass

    conn = _connect(server)
    conn.putrequest("POST", "/upload")
    conn.putheader("Content-Length", "4")
    conn.endheaders()
    conn.sock.close()
    conn.sock = BrokenSocket()  # the peer went away while the body was being sent
    with pytest.raises(BrokenPipeError):
        conn.send(b"body")
    conn.close()

    span = _only_span(instrumented)
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "BrokenPipeError"


# -- connection reuse ----------------------------------------------------------------------


def test_keep_alive_connection_gives_one_span_per_request(
    instrumented: InMemorySpanExporter, server: LoopbackServer
) -> None:
    conn = _connect(server)
    for path in ("/one", "/two", "/status/404"):
        conn.request("GET", path)
        conn.getresponse().read()
    conn.close()

    spans = instrumented.get_finished_spans()
    assert [span.attributes["url.full"].rsplit("/", 1)[-1] for span in spans] == ["one", "two", "404"]
    assert len({span.context.span_id for span in spans}) == 3
    assert len({seen.client_port for seen in server.seen}) == 1  # really one TCP connection
    sent = [_parent_span_id(seen.values("traceparent")[0]) for seen in server.seen]
    assert sent == [_span_id(span) for span in spans]
    assert [span.status.status_code for span in spans] == [
        StatusCode.UNSET,
        StatusCode.UNSET,
        StatusCode.ERROR,
    ]


def test_next_request_sent_before_previous_response_is_read(
    instrumented: InMemorySpanExporter, server: LoopbackServer
) -> None:
    conn = _connect(server)
    conn.request("GET", "/first")
    first = conn.getresponse()
    conn.request("GET", "/second")  # allowed: the first response is known, just unread
    with pytest.raises(http.client.ResponseNotReady):
        conn.getresponse()
    first.read()
    conn.getresponse().read()
    conn.close()

    spans = instrumented.get_finished_spans()
    assert [span.attributes["url.full"].rsplit("/", 1)[-1] for span in spans] == ["first", "second"]
    assert all(span.attributes["http.response.status_code"] == 200 for span in spans)
    assert all(span.status.status_code is StatusCode.UNSET for span in spans)


# -- propagation ---------------------------------------------------------------------------


def test_baggage_reaches_the_server(instrumented: InMemorySpanExporter, server: LoopbackServer) -> None:
    token = context.attach(baggage.set_baggage("botanu.run_id", "run-123"))
    try:
        _get(server, "/with-baggage")
    finally:
        context.detach(token)

    [seen] = server.seen
    assert seen.values("baggage") == ["botanu.run_id=run-123"]
    assert len(seen.values("traceparent")) == 1


def test_headers_the_caller_set_are_not_duplicated(
    instrumented: InMemorySpanExporter, server: LoopbackServer
) -> None:
    mine = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    _get(server, "/mine", headers={"TraceParent": mine})

    [seen] = server.seen
    assert seen.values("traceparent") == [mine]
    assert len(instrumented.get_finished_spans()) == 1


@pytest.mark.parametrize("suppress", [suppress_instrumentation, suppress_http_instrumentation])
def test_suppressed_context_makes_no_span_and_sends_no_context(
    instrumented: InMemorySpanExporter, server: LoopbackServer, suppress
) -> None:
    with suppress():
        _get(server, "/quiet")

    assert instrumented.get_finished_spans() == ()
    assert server.seen[0].values("traceparent") == []


def test_excluded_urls(
    provider: TracerProvider, exporter: InMemorySpanExporter, server: LoopbackServer
) -> None:
    instrumentor = HTTPClientInstrumentor()
    instrumentor.instrument(tracer_provider=provider, excluded_urls="/health$, /metrics")
    try:
        _get(server, "/health")
        _get(server, "/work")
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
    monkeypatch.setenv("OTEL_PYTHON_HTTP_CLIENT_EXCLUDED_URLS", "/health")  # the specific one wins
    instrumentor = HTTPClientInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    try:
        _get(server, "/health")
        _get(server, "/everything")
    finally:
        instrumentor.uninstrument()

    traced = [span.attributes["url.full"] for span in exporter.get_finished_spans()]
    assert traced == [server.url("/everything")]


# -- de-duplication below and above -------------------------------------------------------


@pytest.mark.parametrize("method_key", ["http.request.method", "http.method"])
def test_current_http_client_span_from_elsewhere_is_not_duplicated(
    instrumented: InMemorySpanExporter, server: LoopbackServer, provider: TracerProvider, method_key: str
) -> None:
    """A client instrumentation that makes its span but does not suppress nested ones."""
    tracer = provider.get_tracer("some.other.http.instrumentation")
    with tracer.start_as_current_span("GET", kind=SpanKind.CLIENT, attributes={method_key: "GET"}):
        _get(server, "/outer-owned")

    span = _only_span(instrumented)
    assert span.instrumentation_scope.name == "some.other.http.instrumentation"
    assert server.seen[0].values("traceparent") == []  # the outer client owns propagation


def test_non_http_client_span_still_gets_an_http_child(
    instrumented: InMemorySpanExporter, server: LoopbackServer, provider: TracerProvider
) -> None:
    tracer = provider.get_tracer("llm")
    with tracer.start_as_current_span("chat", kind=SpanKind.CLIENT, attributes={"gen_ai.system": "x"}):
        _get(server, "/llm")

    names = sorted(span.name for span in instrumented.get_finished_spans())
    assert names == ["GET", "chat"]


def test_nothing_below_our_span_makes_another_http_span(
    instrumented: InMemorySpanExporter, server: LoopbackServer
) -> None:
    class ConnectionThatAuthenticates(http.client.HTTPConnection):
        """Makes a nested http.client call while connecting, inside our span."""

        def connect(self) -> None:
            _get(server, "/nested-auth")
            super().connect()

    conn = ConnectionThatAuthenticates("127.0.0.1", server.port, timeout=_TIMEOUT)
    conn.request("GET", "/main")
    conn.getresponse().read()
    conn.close()

    span = _only_span(instrumented)
    assert span.attributes["url.full"].endswith("/main")
    assert sorted(seen.path for seen in server.seen) == ["/main", "/nested-auth"]


# -- never break the host app ----------------------------------------------------------------


def test_internal_failure_never_breaks_the_request(
    instrumented: InMemorySpanExporter,
    server: LoopbackServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("instrumentation bug")

    monkeypatch.setattr(_hooks._attributes, "request_attributes", broken)
    monkeypatch.setattr("botanu_instrumentation._guard._reported", set())
    with caplog.at_level(logging.WARNING, logger="botanu.instrumentation"):
        assert _get(server, "/a") == 200
        assert _get(server, "/b") == 200

    assert instrumented.get_finished_spans() == ()
    warnings = [record for record in caplog.records if record.levelno == logging.WARNING]
    assert len(warnings) == 1  # logged once, not per request
    assert "putrequest" in warnings[0].getMessage()


def test_broken_propagator_still_traces_and_sends(
    instrumented: InMemorySpanExporter, server: LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("propagator bug")

    monkeypatch.setattr(_hooks.propagate, "inject", broken)
    monkeypatch.setattr("botanu_instrumentation._guard._reported", set())
    assert _get(server, "/no-propagation") == 200

    assert _only_span(instrumented).attributes["http.response.status_code"] == 200
    assert server.seen[0].values("traceparent") == []


# -- uninstrument ----------------------------------------------------------------------------


@pytest.fixture
def originals() -> Iterator[dict[str, object]]:
    saved = {name: http.client.HTTPConnection.__dict__[name] for name in _METHODS}
    yield saved
    for name, function in saved.items():  # whatever a test did, leave http.client pristine
        setattr(http.client.HTTPConnection, name, function)


def test_uninstrument_restores_http_client(
    provider: TracerProvider,
    exporter: InMemorySpanExporter,
    server: LoopbackServer,
    originals: dict[str, object],
) -> None:
    instrumentor = HTTPClientInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    assert all(http.client.HTTPConnection.__dict__[name] is not originals[name] for name in _METHODS)
    instrumentor.uninstrument()

    assert all(http.client.HTTPConnection.__dict__[name] is originals[name] for name in _METHODS)
    _get(server, "/after")
    assert exporter.get_finished_spans() == ()
    assert server.seen[0].values("traceparent") == []

    instrumentor.instrument(tracer_provider=provider)  # and it can be instrumented again
    try:
        _get(server, "/again")
    finally:
        instrumentor.uninstrument()
    assert len(exporter.get_finished_spans()) == 1


def test_uninstrument_under_a_foreign_wrapper_disables_ours(
    provider: TracerProvider,
    exporter: InMemorySpanExporter,
    server: LoopbackServer,
    originals: dict[str, object],
) -> None:
    instrumentor = HTTPClientInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    wrapt.wrap_function_wrapper(
        http.client.HTTPConnection, "getresponse", lambda wrapped, _, args, kwargs: wrapped(*args, **kwargs)
    )
    foreign = http.client.HTTPConnection.__dict__["getresponse"]
    instrumentor.uninstrument()

    assert http.client.HTTPConnection.__dict__["getresponse"] is foreign  # theirs is left alone
    _get(server, "/after")
    assert exporter.get_finished_spans() == ()
    unwrap(http.client.HTTPConnection, "getresponse")

"""One span per logical HTTP call when higher-level clients sit on top of http.client.

requests -> urllib3 -> http.client and urllib.request -> http.client: with the
client's own contrib instrumentation on, its span is the only one; with it off,
this instrumentor's span is (zero-code tracing for any http.client user).
"""

from __future__ import annotations

import http.client
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import pytest
import wrapt
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor
from opentelemetry.instrumentation.utils import is_http_instrumentation_enabled, unwrap
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from ._loopback import LoopbackServer

_OURS = "botanu_instrumentation.http_client"
_TIMEOUT = 5


@contextmanager
def _instrumented(instrumentor: BaseInstrumentor, provider: TracerProvider) -> Iterator[None]:
    instrumentor.instrument(tracer_provider=provider)
    try:
        yield
    finally:
        instrumentor.uninstrument()


def _requests_instrumentor() -> BaseInstrumentor:
    module = pytest.importorskip("opentelemetry.instrumentation.requests")
    return module.RequestsInstrumentor()


def _urllib3_instrumentor() -> BaseInstrumentor:
    module = pytest.importorskip("opentelemetry.instrumentation.urllib3")
    return module.URLLib3Instrumentor()


def _urllib_instrumentor() -> BaseInstrumentor:
    module = pytest.importorskip("opentelemetry.instrumentation.urllib")
    return module.URLLibInstrumentor()


def _assert_one_span_per_call(
    exporter: InMemorySpanExporter, server: LoopbackServer, calls: int, scope: str
) -> list[ReadableSpan]:
    """Exactly one CLIENT span per call, from ``scope``, and it is the server span's parent."""
    spans = exporter.get_finished_spans()
    assert [span.instrumentation_scope.name for span in spans] == [scope] * calls
    assert all(span.kind is SpanKind.CLIENT for span in spans)
    assert len(server.seen) == calls
    for seen, span in zip(server.seen, spans, strict=True):
        [traceparent] = seen.values("traceparent")  # sent once, never twice
        assert traceparent.split("-")[2] == format(span.context.span_id, "016x")
    return list(spans)


# -- requests ------------------------------------------------------------------------------


def _requests_get(url: str) -> int:
    requests = pytest.importorskip("requests")
    with requests.Session() as session:
        return session.get(url, timeout=_TIMEOUT).status_code


def test_requests_instrumented_gives_only_its_span(
    instrumented: InMemorySpanExporter, server: LoopbackServer, provider: TracerProvider
) -> None:
    with _instrumented(_requests_instrumentor(), provider):
        assert _requests_get(server.url("/a")) == 200
        assert _requests_get(server.url("/status/404")) == 404

    _assert_one_span_per_call(instrumented, server, 2, "opentelemetry.instrumentation.requests")


def test_requests_alone_is_traced_by_http_client(
    instrumented: InMemorySpanExporter, server: LoopbackServer
) -> None:
    assert _requests_get(server.url("/plain?x=1")) == 200

    [span] = _assert_one_span_per_call(instrumented, server, 1, _OURS)
    assert span.attributes["url.full"] == server.url("/plain?x=1")
    assert span.attributes["http.response.status_code"] == 200


def test_requests_and_urllib3_instrumented_gives_only_the_requests_span(
    instrumented: InMemorySpanExporter, server: LoopbackServer, provider: TracerProvider
) -> None:
    with ExitStack() as stack:
        stack.enter_context(_instrumented(_requests_instrumentor(), provider))
        stack.enter_context(_instrumented(_urllib3_instrumentor(), provider))
        assert _requests_get(server.url("/stacked")) == 200

    _assert_one_span_per_call(instrumented, server, 1, "opentelemetry.instrumentation.requests")


# -- urllib3 -------------------------------------------------------------------------------


def _urllib3_get(url: str) -> int:
    urllib3 = pytest.importorskip("urllib3")
    pool = urllib3.PoolManager(timeout=_TIMEOUT, retries=False)
    try:
        return pool.request("GET", url).status
    finally:
        pool.clear()


def test_urllib3_instrumented_gives_only_its_span(
    instrumented: InMemorySpanExporter, server: LoopbackServer, provider: TracerProvider
) -> None:
    with _instrumented(_urllib3_instrumentor(), provider):
        assert _urllib3_get(server.url("/a")) == 200
        assert _urllib3_get(server.url("/status/500")) == 500

    _assert_one_span_per_call(instrumented, server, 2, "opentelemetry.instrumentation.urllib3")


def test_urllib3_alone_is_traced_by_http_client(
    instrumented: InMemorySpanExporter, server: LoopbackServer
) -> None:
    assert _urllib3_get(server.url("/pool")) == 200

    [span] = _assert_one_span_per_call(instrumented, server, 1, _OURS)
    assert span.attributes["url.full"] == server.url("/pool")


# -- urllib.request ------------------------------------------------------------------------


def _urllib_get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=_TIMEOUT) as response:
            return response.status
    except urllib.error.HTTPError as error:
        error.close()
        return error.code


def test_urllib_instrumented_gives_only_its_span(
    instrumented: InMemorySpanExporter, server: LoopbackServer, provider: TracerProvider
) -> None:
    with _instrumented(_urllib_instrumentor(), provider):
        assert _urllib_get(server.url("/a")) == 200
        assert _urllib_get(server.url("/status/404")) == 404

    _assert_one_span_per_call(instrumented, server, 2, "opentelemetry.instrumentation.urllib")


def test_urllib_alone_is_traced_by_http_client(
    instrumented: InMemorySpanExporter, server: LoopbackServer
) -> None:
    assert _urllib_get(server.url("/status/404")) == 404

    [span] = _assert_one_span_per_call(instrumented, server, 1, _OURS)
    assert span.attributes["error.type"] == "404"


# -- what the contrib clients themselves do --------------------------------------------------


@pytest.mark.parametrize(
    ("make_instrumentor", "call"),
    [
        (_requests_instrumentor, _requests_get),
        (_urllib3_instrumentor, _urllib3_get),
        (_urllib_instrumentor, _urllib_get),
    ],
    ids=["requests", "urllib3", "urllib"],
)
def test_contrib_client_suppresses_http_instrumentation_below_its_span(
    server: LoopbackServer, provider: TracerProvider, exporter: InMemorySpanExporter, make_instrumentor, call
) -> None:
    """The primary de-duplication signal: is_http_instrumentation_enabled() is False inside."""
    seen_enabled: list[bool] = []

    def probe(wrapped, instance, args, kwargs):
        seen_enabled.append(is_http_instrumentation_enabled())
        return wrapped(*args, **kwargs)

    with _instrumented(make_instrumentor(), provider):
        wrapt.wrap_function_wrapper(http.client.HTTPConnection, "putrequest", probe)
        try:
            call(server.url("/probe"))
        finally:
            unwrap(http.client.HTTPConnection, "putrequest")

    assert seen_enabled == [False]
    assert len(exporter.get_finished_spans()) == 1


# -- httpx2 (botanu's instrumentor) over the contrib httpx2 transport instrumentation -----------


def _httpx2_instrumentors() -> tuple[BaseInstrumentor, BaseInstrumentor]:
    pytest.importorskip("httpx2")
    contrib = pytest.importorskip("opentelemetry.instrumentation.httpx")
    if not hasattr(contrib, "HTTPX2ClientInstrumentor"):
        pytest.skip("this contrib httpx release has no httpx2 instrumentor")
    from botanu_instrumentation.httpx2 import HTTPX2Instrumentor

    return HTTPX2Instrumentor(), contrib.HTTPX2ClientInstrumentor()


def _httpx2_calls(url: str) -> None:
    import asyncio

    import httpx2

    with httpx2.Client(timeout=_TIMEOUT) as client:
        assert client.get(f"{url}?sync").status_code == 200

    async def call() -> None:
        async with httpx2.AsyncClient(timeout=_TIMEOUT) as client:
            assert (await client.get(f"{url}?async")).status_code == 200

    asyncio.run(call())


@pytest.mark.parametrize("botanu_first", [True, False], ids=["botanu-first", "contrib-first"])
def test_httpx2_with_contrib_httpx2_gives_only_botanus_span(
    instrumented: InMemorySpanExporter, server: LoopbackServer, provider: TracerProvider, botanu_first: bool
) -> None:
    """opentelemetry-instrument loads both (same entry point name); whichever loads first, one span each."""
    ours, contrib = _httpx2_instrumentors()
    order = [ours, contrib] if botanu_first else [contrib, ours]
    with ExitStack() as stack:
        for instrumentor in order:
            stack.enter_context(_instrumented(instrumentor, provider))
        _httpx2_calls(server.url("/both"))

    spans = _assert_one_span_per_call(instrumented, server, 2, "botanu_instrumentation.httpx2")
    assert [span.attributes["url.full"].rsplit("?", 1)[1] for span in spans] == ["sync", "async"]


def test_contrib_httpx2_alone_still_traces(
    server: LoopbackServer, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    """The contrib instrumentation is not broken by botanu's being installed (only not loaded)."""
    _, contrib = _httpx2_instrumentors()
    with _instrumented(contrib, provider):
        _httpx2_calls(server.url("/contrib"))

    _assert_one_span_per_call(exporter, server, 2, "opentelemetry.instrumentation.httpx")


def test_httpx2_suppresses_http_instrumentation_below_its_span(
    server: LoopbackServer, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    """What the transport (and anything it calls) sees: HTTP instrumentation suppressed."""
    import httpx2

    ours, _ = _httpx2_instrumentors()
    seen_enabled: list[bool] = []

    def probe(wrapped, instance, args, kwargs):
        seen_enabled.append(is_http_instrumentation_enabled())
        return wrapped(*args, **kwargs)

    with _instrumented(ours, provider):
        wrapt.wrap_function_wrapper(httpx2.HTTPTransport, "handle_request", probe)
        try:
            with httpx2.Client(timeout=_TIMEOUT) as client:
                client.get(server.url("/probe"))
        finally:
            unwrap(httpx2.HTTPTransport, "handle_request")

    assert seen_enabled == [False]
    assert len(exporter.get_finished_spans()) == 1

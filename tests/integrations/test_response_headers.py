"""botanu's response propagator and the ``trace_response_headers`` setting, in process.

The servers in test_servers.py show the headers end to end; these pin the rules: which headers,
each once whatever layers offer the response, CORS exposure, the app's own propagator kept, the
setting, and that a failure in botanu never fails the request.
"""

from __future__ import annotations

import asyncio
import logging
import wsgiref.util
from collections.abc import Iterator

import httpx
import pytest
from opentelemetry import trace
from opentelemetry.instrumentation import propagators as contrib
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from botanu._config import resolve_settings
from botanu.integrations import _headers
from botanu.integrations._headers import BotanuResponsePropagator, install_response_propagator

TRACE_ID = 0x0AF7651916CD43DD8448EB211C80319C
SPAN_ID = 0xB7AD6B7169203331


@pytest.fixture(autouse=True)
def _restore_response_propagator() -> Iterator[None]:
    saved = contrib.get_global_response_propagator()
    yield
    contrib.set_global_response_propagator(saved)


def server_context(flags: int = 1) -> object:
    span = NonRecordingSpan(SpanContext(TRACE_ID, SPAN_ID, is_remote=False, trace_flags=TraceFlags(flags)))
    return trace.set_span_in_context(span)


TRACERESPONSE = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
HEX = "0af7651916cd43dd8448eb211c80319c"


class WSGISetter:
    def set(self, carrier: list, key: str, value: str) -> None:
        carrier.append((key, value))


class ASGISetter:
    def set(self, carrier: dict, key: str, value: str) -> None:
        carrier["headers"].append((key.lower().encode(), value.encode()))


def test_setting_default_custom_names_and_off() -> None:
    assert resolve_settings({}, {}).trace_response_headers == ("traceresponse", "X-Trace-ID")
    env = {"BOTANU_TRACE_RESPONSE_HEADERS": "X-Correlation-ID, traceresponse"}
    assert resolve_settings({}, env).trace_response_headers == ("X-Correlation-ID", "traceresponse")
    # An empty variable turns them off (it is a value here, not "unset"); so does an empty argument.
    assert resolve_settings({}, {"BOTANU_TRACE_RESPONSE_HEADERS": ""}).trace_response_headers == ()
    assert resolve_settings({"trace_response_headers": []}, {}).trace_response_headers == ()


def test_a_name_that_is_no_header_name_falls_back_to_the_default(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, "botanu"):
        settings = resolve_settings({}, {"BOTANU_TRACE_RESPONSE_HEADERS": "X-Trace-ID: 1"})
    assert settings.trace_response_headers == ("traceresponse", "X-Trace-ID")
    assert "trace_response_headers" in caplog.text and "BOTANU_TRACE_RESPONSE_HEADERS" in caplog.text


def test_each_header_once_in_every_carrier_shape() -> None:
    propagator = BotanuResponsePropagator()
    wsgi: list[tuple[str, str]] = [("Content-Type", "text/plain")]
    asgi: dict = {"type": "http.response.start", "status": 200, "headers": []}
    for _ in range(2):  # a middleware and an instrumentation both offering the response
        propagator.inject(wsgi, server_context(), WSGISetter())
        propagator.inject(asgi, server_context(), ASGISetter())
    assert wsgi[1:] == [("traceresponse", TRACERESPONSE), ("X-Trace-ID", HEX)]
    assert asgi["headers"] == [(b"traceresponse", TRACERESPONSE.encode()), (b"x-trace-id", HEX.encode())]


def test_django_response() -> None:
    from django.conf import settings

    if not settings.configured:
        settings.configure()
    from django.http import HttpResponse

    response = HttpResponse("ok")
    propagator = BotanuResponsePropagator()
    propagator.inject(response, server_context())  # contrib's Django middleware: the default setter
    propagator.inject(response, server_context())
    assert response["traceresponse"] == TRACERESPONSE
    assert response["X-Trace-ID"] == HEX


def test_custom_names_carry_the_trace_id_and_an_invalid_span_adds_nothing() -> None:
    headers: list[tuple[str, str]] = []
    BotanuResponsePropagator(("X-Correlation-ID",)).inject(headers, server_context(), WSGISetter())
    assert headers == [("X-Correlation-ID", HEX)]
    untraced: list[tuple[str, str]] = []
    BotanuResponsePropagator().inject(untraced, trace.set_span_in_context(trace.INVALID_SPAN), WSGISetter())
    assert untraced == []


def test_cors_responses_expose_the_headers_others_are_left_alone() -> None:
    propagator = BotanuResponsePropagator()
    plain: list[tuple[str, str]] = []
    propagator.inject(plain, server_context(), WSGISetter())
    assert not any(name.lower() == "access-control-expose-headers" for name, _ in plain)

    cors = [
        ("Access-Control-Allow-Origin", "https://app.example"),
        ("Access-Control-Expose-Headers", "X-Trace-ID"),
    ]
    propagator.inject(cors, server_context(), WSGISetter())
    assert ("Access-Control-Expose-Headers", "traceresponse") in cors  # X-Trace-ID was exposed already

    everything = [("Access-Control-Allow-Origin", "*"), ("Access-Control-Expose-Headers", "*")]
    propagator.inject(everything, server_context(), WSGISetter())
    assert [v for k, v in everything if k == "Access-Control-Expose-Headers"] == ["*"]


def test_the_apps_own_response_propagator_still_runs_and_contribs_is_replaced() -> None:
    class Own(contrib.ResponsePropagator):
        def inject(self, carrier, context=None, setter=contrib.default_setter):  # type: ignore[no-untyped-def]
            setter.set(carrier, "X-Own", "1")

    contrib.set_global_response_propagator(Own())
    install_response_propagator(resolve_settings({}, {}))
    headers: list[tuple[str, str]] = []
    contrib.get_global_response_propagator().inject(headers, server_context(), WSGISetter())
    assert [name for name, _ in headers] == ["X-Own", "traceresponse", "X-Trace-ID"]

    contrib.set_global_response_propagator(contrib.TraceResponsePropagator())
    installed = install_response_propagator(resolve_settings({}, {}))
    assert isinstance(installed, BotanuResponsePropagator) and installed.inner is None


def test_init_installs_it_and_the_empty_setting_removes_it(botanu_init, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    botanu_init()
    assert isinstance(contrib.get_global_response_propagator(), BotanuResponsePropagator)
    from tests.conftest import reset_botanu

    reset_botanu()
    monkeypatch.setenv("BOTANU_TRACE_RESPONSE_HEADERS", "")
    botanu_init()
    assert contrib.get_global_response_propagator() is None


def test_a_failure_in_botanu_never_fails_the_request(botanu_init, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The header code raising must leave the ASGI and WSGI responses as the app made them."""
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    from botanu.integrations.asgi import BotanuMiddleware as ASGIMiddleware
    from botanu.integrations.wsgi import BotanuMiddleware as WSGIMiddleware

    botanu_init()

    def broken(*args: object) -> None:
        raise RuntimeError("a bug in botanu")

    monkeypatch.setattr(_headers, "header_values", broken)
    monkeypatch.setattr(_headers, "record_inbound_trace_id", broken)

    asgi_app = Starlette(routes=[Route("/", lambda request: PlainTextResponse("hello"))])
    asgi_app.add_middleware(ASGIMiddleware)

    async def call_asgi() -> httpx.Response:
        transport = httpx.ASGITransport(app=asgi_app)
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
            return await client.get("/", headers={"X-Trace-ID": HEX})

    response = asyncio.run(call_asgi())
    assert (response.status_code, response.text) == (200, "hello")
    assert "traceresponse" not in response.headers

    def wsgi_app(environ, start_response):  # type: ignore[no-untyped-def]
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"hello"]

    environ = {"HTTP_X_TRACE_ID": HEX}
    wsgiref.util.setup_testing_defaults(environ)
    seen = []
    body = WSGIMiddleware(wsgi_app)(environ, lambda status, headers, *exc: seen.append((status, headers)))
    assert b"".join(body) == b"hello"
    assert seen == [("200 OK", [("Content-Type", "text/plain")])]

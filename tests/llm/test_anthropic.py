"""The real anthropic client against the loopback fake API: native tracing on (one span) and off."""

from __future__ import annotations

import asyncio
import gc

import pytest

import botanu

from ._fake_api import CLAUDE, CLAUDE_RESPONSE, TEXT
from .conftest import ANTHROPIC_KEY

anthropic = pytest.importorskip("anthropic")

HI = [{"role": "user", "content": "hi"}]
NATIVE_SCOPE = "com.anthropic.sdk.python"
BOTANU_SCOPE = "botanu_instrumentation.anthropic"


def client(api, **kwargs):
    return anthropic.Anthropic(api_key=ANTHROPIC_KEY, base_url=api.anthropic_url, max_retries=0, **kwargs)


def untraced(api):
    """A client with the SDK's own tracing switched off: botanu's instrumentor covers it."""
    return client(api, open_telemetry=False)


def _usage(span, output_tokens):
    attributes = span.attributes
    # anthropic's input_tokens exclude the cache; the semconv total includes both cache kinds.
    assert attributes["gen_ai.usage.input_tokens"] == 10 + 100 + 20
    assert attributes["gen_ai.usage.cache_read.input_tokens"] == 100
    assert attributes["gen_ai.usage.cache_creation.input_tokens"] == 20
    assert attributes["gen_ai.usage.output_tokens"] == output_tokens


def test_native_tracing_on_gives_one_span_per_call(api, pipeline) -> None:
    p = pipeline()
    c = client(api)
    c.messages.create(model=CLAUDE, max_tokens=64, messages=HI)
    with c.messages.stream(model=CLAUDE, max_tokens=64, messages=HI) as stream:
        assert "".join(stream.text_stream) == TEXT
    spans = sorted(p.genai(2), key=lambda s: s.start_ns)
    assert {span.scope for span in spans} == {NATIVE_SCOPE}
    assert all(span.attributes["gen_ai.provider.name"] == "anthropic" for span in spans)
    # botanu completes the SDK's span with the current semconv names while it is open.
    _usage(spans[0], 6)
    _usage(spans[1], 30)
    for span in spans:
        assert span.attributes["gen_ai.response.finish_reasons"] == ("end_turn",)
    assert p.leaked(ANTHROPIC_KEY) == []


def test_native_tracing_off_by_client_option(api, pipeline) -> None:
    p = pipeline()
    result = untraced(api).messages.create(model=CLAUDE, max_tokens=64, messages=HI, stop_sequences=["END"])
    assert result.content[0].text == TEXT
    (span,) = p.genai(1)
    assert span.scope == BOTANU_SCOPE
    assert span.name == f"chat {CLAUDE}"
    assert span.kind == "CLIENT"
    attributes = span.attributes
    assert attributes["gen_ai.operation.name"] == "chat"
    assert attributes["gen_ai.provider.name"] == "anthropic"
    assert attributes["gen_ai.request.model"] == CLAUDE
    assert attributes["gen_ai.response.model"] == CLAUDE_RESPONSE
    assert attributes["gen_ai.response.id"] == "msg_01"
    assert attributes["gen_ai.response.finish_reasons"] == ("end_turn",)
    assert attributes["gen_ai.request.max_tokens"] == 64
    assert attributes["gen_ai.request.stop_sequences"] == ("END",)
    assert attributes["server.port"] == api.port
    _usage(span, 6)
    assert p.leaked(ANTHROPIC_KEY) == []


def test_native_tracing_off_by_environment(api, pipeline, monkeypatch) -> None:
    monkeypatch.setenv("ANTHROPIC_OPEN_TELEMETRY", "false")
    p = pipeline()
    client(api).messages.create(model=CLAUDE, max_tokens=64, messages=HI)
    (span,) = p.genai(1)
    assert span.scope == BOTANU_SCOPE


def test_stream_helpers_sync(api, pipeline) -> None:
    p = pipeline()
    c = untraced(api)
    with c.messages.stream(model=CLAUDE, max_tokens=64, messages=HI) as stream:
        assert "".join(stream.text_stream) == TEXT
        assert stream.get_final_message().usage.output_tokens == 30
    events = list(c.messages.create(model=CLAUDE, max_tokens=64, messages=HI, stream=True))
    assert events[0].type == "message_start"
    assert events[-1].type == "message_stop"
    for span in p.genai(2):
        assert span.scope == BOTANU_SCOPE
        assert span.attributes["gen_ai.request.stream"] is True
        assert span.attributes["gen_ai.response.finish_reasons"] == ("end_turn",)
        _usage(span, 30)


def test_async_create_and_stream(api, pipeline) -> None:
    p = pipeline()

    async def main() -> str:
        c = anthropic.AsyncAnthropic(
            api_key=ANTHROPIC_KEY, base_url=api.anthropic_url, max_retries=0, open_telemetry=False
        )
        await c.messages.create(model=CLAUDE, max_tokens=64, messages=HI)
        async with c.messages.stream(model=CLAUDE, max_tokens=64, messages=HI) as stream:
            text = "".join([piece async for piece in stream.text_stream])
            await stream.get_final_message()
        return text

    assert asyncio.run(main()) == TEXT
    spans = sorted(p.genai(2), key=lambda s: s.start_ns)
    _usage(spans[0], 6)
    _usage(spans[1], 30)


def test_with_raw_response(api, pipeline) -> None:
    p = pipeline()
    raw = untraced(api).messages.with_raw_response.create(model=CLAUDE, max_tokens=64, messages=HI)
    assert raw.headers["content-type"] == "application/json"
    assert raw.parse().id == "msg_01"
    (span,) = p.genai(1)
    _usage(span, 6)


def test_rate_limit_reaches_the_app_unchanged(api, pipeline) -> None:
    p = pipeline()
    with pytest.raises(anthropic.RateLimitError) as caught:
        untraced(api).messages.create(model="rate-limited", max_tokens=64, messages=HI)
    assert type(caught.value) is anthropic.RateLimitError
    (span,) = p.genai(1)
    assert span.status_code == "ERROR"
    assert span.attributes["error.type"] == "anthropic.RateLimitError"


def test_stream_abandoned_half_way(api, pipeline) -> None:
    p = pipeline()
    stream = untraced(api).messages.create(model=CLAUDE, max_tokens=64, messages=HI, stream=True)
    next(stream)
    next(stream)
    del stream
    gc.collect()
    (span,) = p.genai(1)
    assert span.attributes["gen_ai.response.id"] == "msg_01"


def test_content_capture(api, pipeline) -> None:
    p = pipeline()
    with botanu.event(event_id="e1", customer_id="c1", workflow="support", capture_input=True):
        untraced(api).messages.create(model=CLAUDE, max_tokens=64, system="be brief", messages=HI)
        with untraced(api).messages.stream(model=CLAUDE, max_tokens=64, messages=HI) as stream:
            stream.until_done()
    for span in p.genai(2):
        assert '"content": "hi"' in span.attributes["gen_ai.input.messages"]
        assert TEXT in span.attributes["gen_ai.output.messages"]
    with botanu.event(event_id="e2", customer_id="c1", workflow="support"):
        untraced(api).messages.create(model=CLAUDE, max_tokens=64, messages=HI)
    spans = p.genai(3)
    assert sum("gen_ai.input.messages" in span.attributes for span in spans) == 2


def test_enrich_native_span_adds_the_current_semconv_names(api) -> None:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from botanu_instrumentation.genai import enrich_native_genai_span

    provider = TracerProvider()
    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    c = client(api, open_telemetry={"tracer_provider": provider})
    c.messages.create(model=CLAUDE, max_tokens=64, messages=HI)
    with c.messages.stream(model=CLAUDE, max_tokens=64, messages=HI) as stream:
        stream.until_done()
    native = memory.get_finished_spans()
    assert [span.instrumentation_scope.name for span in native] == [NATIVE_SCOPE] * 2
    for span in native:
        added = enrich_native_genai_span(span)
        assert added == {
            "gen_ai.usage.cache_creation.input_tokens": 20,
            "gen_ai.response.finish_reasons": ["end_turn"],
        }
        # The SDK's own span already has the total input (cache included) and the cache reads.
        assert span.attributes["gen_ai.usage.input_tokens"] == 130
    assert enrich_native_genai_span(provider.get_tracer("other").start_span("x")) is None


def test_content_capture_on_the_sdks_own_span(api, pipeline) -> None:
    p = pipeline()
    with botanu.event(event_id="e1", customer_id="c1", workflow="support", capture_input=True):
        client(api).messages.create(model=CLAUDE, max_tokens=64, system="be brief", messages=HI)
        with client(api).messages.stream(model=CLAUDE, max_tokens=64, messages=HI) as stream:
            assert "".join(stream.text_stream) == TEXT
    with botanu.event(event_id="e2", customer_id="c1", workflow="support"):
        client(api).messages.create(model=CLAUDE, max_tokens=64, messages=HI)
    captured, streamed, plain = sorted(p.genai(3), key=lambda s: s.start_ns)
    assert captured.scope == streamed.scope == plain.scope == NATIVE_SCOPE
    assert '"content": "hi"' in captured.attributes["gen_ai.input.messages"]
    assert "be brief" in captured.attributes["gen_ai.system_instructions"]
    for span in (captured, streamed):
        assert TEXT in span.attributes["gen_ai.output.messages"]
    assert '"content": "hi"' in streamed.attributes["gen_ai.input.messages"]
    assert "gen_ai.input.messages" not in plain.attributes
    assert "gen_ai.output.messages" not in plain.attributes


def test_uninstrument_restores_the_sdk(api, pipeline) -> None:
    pipeline()
    base = anthropic._base_client
    assert hasattr(base.SyncAPIClient.__dict__["_request"], "__wrapped__")
    botanu.shutdown()
    for owner, name in (
        (base.SyncAPIClient, "request"),
        (base.AsyncAPIClient, "request"),
        (base.SyncAPIClient, "_request"),
        (base.AsyncAPIClient, "_request"),
    ):
        assert not hasattr(owner.__dict__[name], "__wrapped__"), name
    assert not hasattr(vars(base)["finish_api_call_span"], "__wrapped__")


def test_beta_messages(api, pipeline) -> None:
    p = pipeline()
    c = untraced(api)
    c.beta.messages.create(model=CLAUDE, max_tokens=64, messages=HI)
    with c.beta.messages.stream(model=CLAUDE, max_tokens=64, messages=HI) as stream:
        stream.until_done()
    spans = sorted(p.genai(2), key=lambda s: s.start_ns)
    assert [span.scope for span in spans] == [BOTANU_SCOPE] * 2
    _usage(spans[0], 6)
    _usage(spans[1], 30)


def test_native_tracing_on_async_stream_helpers(api, pipeline) -> None:
    p = pipeline()

    async def main() -> str:
        c = anthropic.AsyncAnthropic(api_key=ANTHROPIC_KEY, base_url=api.anthropic_url, max_retries=0)
        async with c.messages.stream(model=CLAUDE, max_tokens=64, messages=HI) as stream:
            text = "".join([piece async for piece in stream.text_stream])
            assert (await stream.get_final_message()).usage.output_tokens == 30
        events = [
            event.type
            async for event in await c.messages.create(model=CLAUDE, max_tokens=64, messages=HI, stream=True)
        ]
        assert events[-1] == "message_stop"
        return text

    assert asyncio.run(main()) == TEXT
    for span in p.genai(2):
        assert span.scope == NATIVE_SCOPE
        assert span.attributes["gen_ai.response.finish_reasons"] == ("end_turn",)
        _usage(span, 30)

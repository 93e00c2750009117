"""The real openai client against the loopback fake API, spans checked through botanu's pipeline."""

from __future__ import annotations

import asyncio
import gc
import threading

import pytest

import botanu

from ._fake_api import MODEL, RESPONSE_MODEL, TEXT, TEXT_CHUNKS
from .conftest import OPENAI_KEY

openai = pytest.importorskip("openai")

HI = [{"role": "user", "content": "hi"}]
# The chunks the fake server sends for one streamed chat completion (role, text..., finish).
CHAT_CHUNKS = 1 + len(TEXT_CHUNKS) + 1


def client(api, **kwargs):
    return openai.OpenAI(api_key=OPENAI_KEY, base_url=api.base_url, max_retries=0, **kwargs)


def aclient(api):
    return openai.AsyncOpenAI(api_key=OPENAI_KEY, base_url=api.base_url, max_retries=0)


def _chat_usage(span, input_tokens=12, output_tokens=7):
    assert span.attributes["gen_ai.usage.input_tokens"] == input_tokens
    assert span.attributes["gen_ai.usage.output_tokens"] == output_tokens


def test_chat_completion_span_has_the_current_semconv(api, pipeline) -> None:
    p = pipeline()
    result = client(api).chat.completions.create(
        model=MODEL, messages=HI, temperature=0.5, max_tokens=50, service_tier="flex"
    )
    assert result.choices[0].message.content == TEXT

    (span,) = p.genai(1)
    assert span.name == f"chat {MODEL}"
    assert span.kind == "CLIENT"
    assert span.scope == "botanu_instrumentation.openai"
    attributes = span.attributes
    assert attributes["gen_ai.operation.name"] == "chat"
    assert attributes["gen_ai.provider.name"] == "openai"
    assert "gen_ai.system" not in attributes
    assert attributes["gen_ai.request.model"] == MODEL
    assert attributes["gen_ai.response.model"] == RESPONSE_MODEL
    assert attributes["gen_ai.response.id"] == "chatcmpl-1"
    assert attributes["gen_ai.response.finish_reasons"] == ("stop",)
    assert attributes["gen_ai.request.temperature"] == 0.5
    assert attributes["gen_ai.request.max_tokens"] == 50
    assert attributes["server.address"] == "127.0.0.1"
    assert attributes["server.port"] == api.port
    # The tier asked for and the one that served the call (its price differs; the cost stage reads it).
    assert attributes["openai.request.service_tier"] == "flex"
    assert attributes["openai.response.service_tier"] == "flex"
    # openai's prompt_tokens already include the cached ones: taken as they are, not added again.
    _chat_usage(span)
    assert attributes["gen_ai.usage.cache_read.input_tokens"] == 4
    assert attributes["gen_ai.usage.reasoning.output_tokens"] == 2
    assert span.status_code != "ERROR"
    # Content is off by default, and the API key never leaves the process.
    assert "gen_ai.input.messages" not in attributes
    assert "gen_ai.output.messages" not in attributes
    assert p.leaked(OPENAI_KEY) == []


def test_chat_parse_helper(api, pipeline) -> None:
    p = pipeline()
    parsed = client(api).chat.completions.parse(model=MODEL, messages=HI)
    assert parsed.choices[0].message.content == TEXT
    (span,) = p.genai(1)
    _chat_usage(span)


def test_stream_iterated_without_with(api, pipeline) -> None:
    p = pipeline()
    stream = client(api).chat.completions.create(model=MODEL, messages=HI, stream=True)
    assert isinstance(stream, openai.Stream)
    chunks = list(stream)
    assert len(chunks) == CHAT_CHUNKS
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == TEXT

    (span,) = p.genai(1)
    assert span.attributes["gen_ai.request.stream"] is True
    assert span.attributes["gen_ai.response.id"] == "chatcmpl-2"
    assert span.attributes["gen_ai.response.finish_reasons"] == ("stop",)
    # Usage is opt-in for streams (llm_stream_usage): nothing was asked, nothing is recorded.
    assert "gen_ai.usage.input_tokens" not in span.attributes
    assert "stream_options" not in api.requests[-1].body


def test_stream_usage_setting_asks_for_usage_and_hides_the_extra_chunk(api, pipeline, monkeypatch) -> None:
    monkeypatch.setenv("BOTANU_LLM_STREAM_USAGE", "1")
    p = pipeline()
    with client(api).chat.completions.create(model=MODEL, messages=HI, stream=True) as stream:
        chunks = [chunk for chunk in stream]
    # The app sees exactly what it would without botanu: no usage-only chunk.
    assert len(chunks) == CHAT_CHUNKS
    assert all(chunk.choices for chunk in chunks)
    assert api.requests[-1].body["stream_options"] == {"include_usage": True}

    (span,) = p.genai(1)
    _chat_usage(span, 9, 25)


def test_usage_the_app_asked_for_reaches_the_app(api, pipeline, monkeypatch) -> None:
    monkeypatch.setenv("BOTANU_LLM_STREAM_USAGE", "1")
    p = pipeline()
    options = {"include_usage": True}
    stream = client(api).chat.completions.create(
        model=MODEL, messages=HI, stream=True, stream_options=options
    )
    chunks = list(stream)
    assert len(chunks) == CHAT_CHUNKS + 1
    assert chunks[-1].usage.completion_tokens == 25
    assert options == {"include_usage": True}  # the app's dict is untouched
    (span,) = p.genai(1)
    _chat_usage(span, 9, 25)


def test_stream_helper_with_final_completion(api, pipeline, monkeypatch) -> None:
    monkeypatch.setenv("BOTANU_LLM_STREAM_USAGE", "1")
    p = pipeline()
    with client(api).chat.completions.stream(model=MODEL, messages=HI) as stream:
        final = stream.get_final_completion()
    assert final.choices[0].message.content == TEXT
    (span,) = p.genai(1)
    _chat_usage(span, 9, 25)


def test_stream_abandoned_half_way_still_ends_its_span(api, pipeline) -> None:
    p = pipeline()
    stream = client(api).chat.completions.create(model=MODEL, messages=HI, stream=True)
    next(stream)
    next(stream)
    del stream
    gc.collect()
    (span,) = p.genai(1)
    assert span.end_ns > span.start_ns
    assert span.attributes["gen_ai.response.id"] == "chatcmpl-2"


def test_stream_left_early_by_with_ends_its_span_at_once(api, pipeline) -> None:
    p = pipeline()
    with client(api).chat.completions.stream(model=MODEL, messages=HI) as stream:
        for _event in stream:
            break
        # The helper closes the HTTP response on exit; the span ends then, not at garbage collection.
    botanu.force_flush()
    assert len(p.genai(1)) == 1
    del stream


def test_rate_limit_reaches_the_app_unchanged_and_fails_the_span(api, pipeline) -> None:
    p = pipeline()
    with pytest.raises(openai.RateLimitError) as caught:
        client(api).chat.completions.create(model="rate-limited", messages=HI)
    assert type(caught.value) is openai.RateLimitError
    assert caught.value.status_code == 429
    (span,) = p.genai(1)
    assert span.status_code == "ERROR"
    assert span.attributes["error.type"] == "openai.RateLimitError"


def test_async_chat_and_stream(api, pipeline, monkeypatch) -> None:
    monkeypatch.setenv("BOTANU_LLM_STREAM_USAGE", "1")
    p = pipeline()

    async def main() -> list:
        c = aclient(api)
        await c.chat.completions.create(model=MODEL, messages=HI)
        stream = await c.chat.completions.create(model=MODEL, messages=HI, stream=True)
        assert isinstance(stream, openai.AsyncStream)
        async with stream:
            return [chunk async for chunk in stream]

    chunks = asyncio.run(main())
    assert len(chunks) == CHAT_CHUNKS
    spans = sorted(p.genai(2), key=lambda s: s.start_ns)
    _chat_usage(spans[0])
    _chat_usage(spans[1], 9, 25)


def test_responses_api_create_and_stream(api, pipeline) -> None:
    p = pipeline()
    c = client(api)
    response = c.responses.create(model=MODEL, input="hi", max_output_tokens=64)
    assert response.output_text == TEXT
    with c.responses.stream(model=MODEL, input="hi") as stream:
        final = stream.get_final_response()
    assert final.usage.output_tokens == 11

    for span in p.genai(2):
        assert span.name == f"chat {MODEL}"
        assert span.attributes["gen_ai.response.id"] == "resp_1"
        assert span.attributes["gen_ai.usage.input_tokens"] == 20
        assert span.attributes["gen_ai.usage.cache_read.input_tokens"] == 8
        assert span.attributes["gen_ai.usage.output_tokens"] == 11
        assert span.attributes["gen_ai.usage.reasoning.output_tokens"] == 3
        assert span.attributes["gen_ai.response.finish_reasons"] == ("stop",)


def test_responses_api_async(api, pipeline) -> None:
    p = pipeline()

    async def main() -> None:
        c = aclient(api)
        await c.responses.create(model=MODEL, input="hi")
        stream = await c.responses.create(model=MODEL, input="hi", stream=True)
        async for _event in stream:
            pass
        async with c.responses.stream(model=MODEL, input="hi") as helper:
            await helper.get_final_response()

    asyncio.run(main())
    assert {span.attributes["gen_ai.usage.output_tokens"] for span in p.genai(3)} == {11}


def test_embeddings(api, pipeline) -> None:
    p = pipeline()
    result = client(api).embeddings.create(model="text-embedding-test", input="hi", dimensions=3)
    assert len(result.data[0].embedding) == 3
    (span,) = p.genai(1)
    assert span.name == "embeddings text-embedding-test"
    assert span.attributes["gen_ai.operation.name"] == "embeddings"
    assert span.attributes["gen_ai.usage.input_tokens"] == 5
    assert span.attributes["gen_ai.embeddings.dimension.count"] == 3


def test_with_raw_response(api, pipeline) -> None:
    p = pipeline()
    c = client(api)
    raw = c.chat.completions.with_raw_response.create(model=MODEL, messages=HI)
    assert raw.headers["content-type"] == "application/json"
    assert raw.parse().choices[0].message.content == TEXT
    raw_stream = c.chat.completions.with_raw_response.create(model=MODEL, messages=HI, stream=True)
    assert len(list(raw_stream.parse())) == CHAT_CHUNKS
    spans = sorted(p.genai(2), key=lambda s: s.start_ns)
    _chat_usage(spans[0])
    assert spans[1].attributes["gen_ai.response.finish_reasons"] == ("stop",)


def test_with_streaming_response(api, pipeline) -> None:
    p = pipeline()
    c = client(api)
    with c.chat.completions.with_streaming_response.create(model=MODEL, messages=HI) as response:
        assert response.parse().choices[0].message.content == TEXT
    with c.chat.completions.with_streaming_response.create(model=MODEL, messages=HI) as response:
        assert b"chatcmpl-1" in b"".join(response.iter_bytes())
    spans = sorted(p.genai(2), key=lambda s: s.start_ns)
    _chat_usage(spans[0])  # parsed: usage known
    assert "gen_ai.usage.input_tokens" not in spans[1].attributes  # read as bytes: span ends at exit


def test_content_capture_on_for_the_run(api, pipeline) -> None:
    p = pipeline()
    secret = "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAB7CD0EF3GH6IJ9KLmN0pQ"
    messages = [{"role": "user", "content": f"summarise ticket 42, my key is {secret}"}]
    with botanu.event(event_id="e1", customer_id="c1", workflow="support", capture_input=True):
        client(api).chat.completions.create(model=MODEL, messages=messages)
    (span,) = p.genai(1)
    captured = span.attributes["gen_ai.input.messages"]
    assert "summarise ticket 42" in captured
    assert '"role": "user"' in captured
    assert TEXT in span.attributes["gen_ai.output.messages"]
    # botanu's redactor masks a secret inside a prompt before export.
    assert p.leaked(secret, OPENAI_KEY) == []


def test_content_capture_off_for_a_run_that_did_not_ask(api, pipeline) -> None:
    p = pipeline()
    with botanu.event(event_id="e1", customer_id="c1", workflow="support"):
        client(api).chat.completions.create(model=MODEL, messages=HI)
    (span,) = p.genai(1)
    assert "gen_ai.input.messages" not in span.attributes
    assert "gen_ai.output.messages" not in span.attributes


def test_content_capture_rate_applies_to_runs(api, pipeline) -> None:
    p = pipeline(content_capture_rate=1.0)
    with botanu.event(event_id="e1", customer_id="c1", workflow="support"):
        client(api).chat.completions.create(model=MODEL, messages=HI, stream=True).close()
    (span,) = p.genai(1)
    assert "gen_ai.input.messages" in span.attributes


def test_calls_on_worker_threads_and_tasks_belong_to_the_run(api, pipeline) -> None:
    p = pipeline()
    c = client(api)
    ac = aclient(api)
    with botanu.event(event_id="e1", customer_id="c1", workflow="triage") as run:
        from concurrent.futures import ThreadPoolExecutor

        from opentelemetry import context

        ctx = context.get_current()

        def in_thread() -> None:
            token = context.attach(ctx)
            try:
                c.chat.completions.create(model=MODEL, messages=HI)
            finally:
                context.detach(token)

        with ThreadPoolExecutor(2) as pool:
            list(pool.map(lambda _: in_thread(), range(2)))
        worker = threading.Thread(target=in_thread)
        worker.start()
        worker.join()

        async def tasks() -> None:
            stream = await ac.chat.completions.create(model=MODEL, messages=HI, stream=True)

            async def consume() -> None:  # read in another task than the one that made it
                async for _chunk in stream:
                    pass

            await asyncio.gather(ac.chat.completions.create(model=MODEL, messages=HI), consume())

        asyncio.run(tasks())
    spans = p.genai(5)
    (run_span,) = [s for s in p.spans(6) if s.name == "botanu.run/triage"]
    for span in spans:
        assert span.parent_span_id == run_span.span_id
        assert span.trace_id == run_span.trace_id
        assert span.attributes["botanu.run_id"] == run.run_id


def test_no_second_span_when_another_instrumentation_traces_the_call(api, pipeline) -> None:
    from opentelemetry import context, trace
    from opentelemetry.trace import SpanKind

    p = pipeline()
    tracer = trace.get_tracer("contrib.genai.openai.stand-in")
    c = client(api)
    # What contrib genai-openai and OpenLLMetry do: their gen_ai CLIENT span is current while
    # the SDK method runs.
    with tracer.start_as_current_span(
        "chat gpt-test-1", kind=SpanKind.CLIENT, attributes={"gen_ai.operation.name": "chat"}
    ):
        c.chat.completions.create(model=MODEL, messages=HI)
    token = context.attach(context.set_value("suppress_language_model_instrumentation", True))
    try:
        c.chat.completions.create(model=MODEL, messages=HI)
    finally:
        context.detach(token)
    (span,) = p.genai(1)
    assert span.scope == "contrib.genai.openai.stand-in"


def test_uninstrumented_after_shutdown(api, pipeline) -> None:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from botanu_instrumentation.openai import OpenAIInstrumentor

    pipeline()
    botanu.shutdown()
    assert not hasattr(openai._base_client.SyncAPIClient.__dict__["request"], "__wrapped__")
    provider = TracerProvider()
    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    try:
        client(api).chat.completions.create(model=MODEL, messages=HI)
    finally:
        instrumentor.uninstrument()
    client(api).chat.completions.create(model=MODEL, messages=HI)
    assert [span.name for span in memory.get_finished_spans()] == [f"chat {MODEL}"]


def test_responses_parse_helper(api, pipeline) -> None:
    p = pipeline()
    parsed = client(api).responses.parse(model=MODEL, input="hi")
    assert parsed.output_text == TEXT
    (span,) = p.genai(1)
    assert span.attributes["gen_ai.usage.output_tokens"] == 11


def test_async_raw_and_streaming_responses(api, pipeline) -> None:
    p = pipeline()

    async def main() -> None:
        c = aclient(api)
        raw = await c.chat.completions.with_raw_response.create(model=MODEL, messages=HI)
        assert raw.parse().id == "chatcmpl-1"
        async with c.chat.completions.with_streaming_response.create(model=MODEL, messages=HI) as response:
            assert (await response.parse()).id == "chatcmpl-1"
        async with c.chat.completions.with_streaming_response.create(
            model=MODEL, messages=HI, stream=True
        ) as response:
            stream = await response.parse()
            assert len([chunk async for chunk in stream]) == CHAT_CHUNKS

    asyncio.run(main())
    spans = sorted(p.genai(3), key=lambda s: s.start_ns)
    _chat_usage(spans[0])
    _chat_usage(spans[1])
    assert spans[2].attributes["gen_ai.response.finish_reasons"] == ("stop",)


def test_usage_on_the_span_is_what_the_cost_stage_prices(api, pipeline) -> None:
    p = pipeline()
    with botanu.event(event_id="e1", customer_id="c1", workflow="priced"):
        client(api).chat.completions.create(model="gpt-4o", messages=HI)
        stream = client(api).chat.completions.create(model="gpt-4o", messages=HI, stream=True)
        for _chunk in stream:
            break
        stream.close()
    spans = p.spans(3)
    priced = [s for s in spans if s.scope == "botanu_instrumentation.openai"]
    assert len(priced) == 2
    (complete,) = [s for s in priced if "gen_ai.usage.input_tokens" in s.attributes]
    assert complete.attributes["botanu.cost.usd"] > 0
    (run_span,) = [s for s in spans if s.name == "botanu.run/priced"]
    # Both calls count in the run; the closed stream reported no usage, so only one has a cost.
    assert run_span.attributes["botanu.llm.calls"] == 2
    assert run_span.attributes["botanu.cost.usd"] == pytest.approx(complete.attributes["botanu.cost.usd"])


def test_beta_namespace(api, pipeline) -> None:
    p = pipeline()
    c = client(api)
    c.beta.chat.completions.parse(model=MODEL, messages=HI)
    c.beta.responses.create(model=MODEL, input="hi")
    for _event in c.beta.responses.create(model=MODEL, input="hi", stream=True):
        pass
    spans = p.genai(3)
    assert sorted(span.attributes["gen_ai.usage.output_tokens"] for span in spans) == [7, 11, 11]


def test_the_stream_the_app_gets_behaves_as_the_sdks(api, pipeline) -> None:
    import httpx2

    p = pipeline()
    stream = client(api).chat.completions.create(model=MODEL, messages=HI, stream=True)
    assert isinstance(stream, openai.Stream)
    assert isinstance(stream.response, httpx2.Response)
    assert stream.response.status_code == 200
    assert stream.response.headers["content-type"] == "text/event-stream"
    assert iter(stream) is stream
    stream.close()  # closed unread: the span ends now
    stream.close()
    (span,) = p.genai(1)
    assert span.status_code != "ERROR"
    with pytest.raises(httpx2.StreamClosed):  # as without botanu
        next(stream)


def test_stream_usage_as_an_init_argument(api, pipeline) -> None:
    p = pipeline(llm_stream_usage=True)
    assert (
        len(list(client(api).chat.completions.create(model=MODEL, messages=HI, stream=True))) == CHAT_CHUNKS
    )
    assert api.requests[-1].body["stream_options"] == {"include_usage": True}
    (span,) = p.genai(1)
    _chat_usage(span, 9, 25)

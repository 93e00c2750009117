"""App-thread cost of botanu's openai instrumentation per call and per stream chunk.

Two measurements, all in this one process, interleaved round by round, spans going through
botanu's full pipeline (run enricher, redaction wrapper, cost stage, delivery processor) with
an exporter that discards batches, inside one open ``botanu.event`` run:

1. botanu's own work, exactly "beyond the HTTP call": the instrumentor's ``request`` wrapper
   around a stand-in for the SDK's ``request`` that returns a ready ``ChatCompletion`` (or a
   stream of ready chunks), against the stand-in alone (goal: <= 30 us per call), and against
   a bare span carrying the same attributes through the same pipeline (the floor any
   instrumentation pays there), and the same span on a stock SDK provider, for scale;
2. end to end: the real ``openai`` client on an in-process ``httpx2.MockTransport``, without the
   instrumentor, with it on botanu's pipeline, and with it on a stock SDK provider (what an SDK
   span costs any instrumentation inside a real call, with the caches the SDK's ~1 ms left cold).

Responses are shaped as real ones: every call has a new response id and new token counts, and
carries the zero usage details openai always reports (values never seen before are what redaction
and the caches pay for). Fastest round of each side (least disturbed by other work on the machine).
Usage: ``python benchmarks/bench_llm.py [--iterations N] [--rounds R] [--chunks C]``.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import logging
import os
import random
import statistics
import string
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import httpx2
import openai
from opentelemetry import context, trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

import botanu
from botanu._config import resolve_settings
from botanu._pipeline import build_processors
from botanu._version import __version__
from botanu.context import _run, _tracing
from botanu.context._tracing import INSTRUMENTATION_NAME

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "instrumentors"))
from botanu_instrumentation.openai import OpenAIInstrumentor


class NullExporter(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


# As real responses are: a new id and new token counts on every call (a constant id would hide
# what a value never seen before costs: redaction, caches). Drawn once, from a fixed seed.
POOL = 4096
_random = random.Random(7)
_ID_CHARS = string.ascii_letters + string.digits


def response_id() -> str:
    return "chatcmpl-" + "".join(_random.choices(_ID_CHARS, k=29))


def completion_body() -> dict:
    prompt, completion = _random.randint(8, 4000), _random.randint(1, 800)
    return {
        "id": response_id(),
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-4o-2024-08-06",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "Hello!"}, "finish_reason": "stop"}
        ],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
            # As openai reports them on every response, zero or not.
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
        },
    }


COMPLETIONS = [json.dumps(completion_body()).encode() for _ in range(POOL)]


def stream_body(chunks: int) -> bytes:
    stream_id = response_id()

    def event(delta: dict, finish: str | None = None) -> bytes:
        chunk = {
            "id": stream_id,
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "gpt-4o-2024-08-06",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
        return b"data: " + json.dumps(chunk).encode() + b"\n\n"

    parts = [event({"content": "tok"}) for _ in range(chunks - 1)] + [event({}, "stop")]
    return b"".join(parts) + b"data: [DONE]\n\n"


def make_client(chunks: int) -> openai.OpenAI:
    streamed = stream_body(chunks)
    bodies = itertools.cycle(COMPLETIONS)

    def answer(request: httpx2.Request) -> httpx2.Response:
        if b'"stream":true' in request.content.replace(b" ", b""):
            return httpx2.Response(200, content=streamed, headers={"content-type": "text/event-stream"})
        return httpx2.Response(200, content=next(bodies), headers={"content-type": "application/json"})

    http_client = httpx2.Client(transport=httpx2.MockTransport(answer))
    return openai.OpenAI(
        api_key="sk-bench", base_url="http://llm.test/v1", http_client=http_client, max_retries=0
    )


MESSAGES = [{"role": "user", "content": "Say hello"}]


def workloads(client: openai.OpenAI) -> dict[str, Callable[[], None]]:
    def call() -> None:
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES, temperature=0.2)

    def stream() -> None:
        for _chunk in client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True):
            pass

    return {"call": call, "stream": stream}


def time_per_call(fn: Callable[[], None], iterations: int) -> float:
    gc.collect()
    start = time.perf_counter()
    for _ in range(iterations):
        fn()
    return (time.perf_counter() - start) / iterations * 1e6


class ReadyStream:
    """Stands in for ``openai.Stream``: ready chunks, and the ``response`` attribute streams have."""

    response = None

    def __init__(self, chunks: list) -> None:
        self._chunks = iter(chunks)

    def __iter__(self) -> ReadyStream:
        return self

    def __next__(self) -> object:
        return next(self._chunks)

    def close(self) -> None:
        pass


def direct_workloads(provider: TracerProvider, chunks: int) -> dict[str, Callable[[], None]]:
    """botanu's wrapper around stand-in ``request`` calls, the stand-ins alone, and a bare span."""
    from openai._models import FinalRequestOptions
    from openai.types.chat import ChatCompletion, ChatCompletionChunk

    from botanu_instrumentation.genai._call import sync_wrapper
    from botanu_instrumentation.openai._adapter import OpenAIAdapter

    client = make_client(chunks)
    completions = itertools.cycle([ChatCompletion.model_validate(json.loads(body)) for body in COMPLETIONS])
    # Streams: a few, each with its own id (every chunk of a stream carries the stream's id).
    streams = itertools.cycle(
        [
            [
                ChatCompletionChunk.model_validate(json.loads(line[6:]))
                for line in stream_body(chunks).split(b"\n\n")
                if line.startswith(b"data: {")
            ]
            for _ in range(64)
        ]
    )
    body = {"model": "gpt-4o", "messages": MESSAGES, "temperature": 0.2}
    options = FinalRequestOptions.construct(method="post", url="/chat/completions", json_data=body)
    wrapper = sync_wrapper(OpenAIAdapter(provider.get_tracer("botanu_instrumentation.openai"), False))

    def request(
        cast_to: object, options: object, *, stream: bool = False, stream_cls: object = None
    ) -> object:
        return ReadyStream(next(streams)) if stream else next(completions)

    def plain_call() -> None:
        request(ChatCompletion, options)

    def botanu_call() -> None:
        wrapper(request, client, (ChatCompletion, options), {})

    def plain_stream() -> None:
        for _chunk in request(ChatCompletion, options, stream=True):
            pass

    def botanu_stream() -> None:
        for _chunk in wrapper(request, client, (ChatCompletion, options), {"stream": True}):
            pass

    tracer = provider.get_tracer("bench")
    # The same span on a stock SDK provider (BatchSpanProcessor, no botanu processors), for scale.
    stock = TracerProvider()
    stock.add_span_processor(BatchSpanProcessor(NullExporter()))
    stock_tracer = stock.get_tracer("bench")
    attributes = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o",
        "server.address": "llm.test",
        "server.port": 443,
        "gen_ai.request.temperature": 0.2,
    }
    # What the instrumentor records from the same responses, one per call.
    responses = itertools.cycle(
        [
            {
                "gen_ai.response.id": body["id"],
                "gen_ai.response.model": body["model"],
                "gen_ai.response.finish_reasons": ["stop"],
                "gen_ai.usage.input_tokens": body["usage"]["prompt_tokens"],
                "gen_ai.usage.output_tokens": body["usage"]["completion_tokens"],
                "gen_ai.usage.cache_read.input_tokens": 0,
                "gen_ai.usage.reasoning.output_tokens": 0,
            }
            for body in map(json.loads, COMPLETIONS)
        ]
    )

    def bare_span() -> None:
        span = tracer.start_span("chat gpt-4o", kind=trace.SpanKind.CLIENT, attributes=attributes)
        token = context.attach(trace.set_span_in_context(span))
        context.detach(token)
        span.set_attributes(next(responses))
        span.end()

    def stock_span() -> None:
        span = stock_tracer.start_span("chat gpt-4o", kind=trace.SpanKind.CLIENT, attributes=attributes)
        token = context.attach(trace.set_span_in_context(span))
        context.detach(token)
        span.set_attributes(next(responses))
        span.end()

    return {
        "stock SDK span": stock_span,
        "plain call": plain_call,
        "botanu call": botanu_call,
        "bare span, botanu pipeline": bare_span,
        "plain stream": plain_stream,
        "botanu stream": botanu_stream,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--chunks", type=int, default=100)
    args = parser.parse_args()
    os.environ["OTEL_BSP_MAX_QUEUE_SIZE"] = str(args.iterations * 8)
    logging.getLogger("botanu").setLevel(logging.ERROR)

    provider = TracerProvider()
    processors = build_processors(resolve_settings({}), exporter=NullExporter())
    for processor in processors.all():
        provider.add_span_processor(processor)
    trace.set_tracer_provider(provider)
    _tracing._tracer = provider.get_tracer(INSTRUMENTATION_NAME, __version__)
    _run.set_run_id_listener(processors.run_id_listener)

    direct = direct_workloads(provider, args.chunks)
    client = make_client(args.chunks)
    e2e = workloads(client)
    instrumentor = OpenAIInstrumentor()
    stock_provider = TracerProvider()
    stock_provider.add_span_processor(BatchSpanProcessor(NullExporter()))
    times: dict[str, list[float]] = {}

    def measure(name: str, fn: Callable[[], None], count: int) -> None:
        times.setdefault(name, []).append(time_per_call(fn, count))

    with botanu.event(event_id="T-1", customer_id="cus_1", workflow="Bench"):
        for fn in direct.values():  # warm up
            time_per_call(fn, 500)
        provider.force_flush()
        for round_index in range(args.rounds):
            names = list(direct)
            shift = round_index % len(names)
            for name in names[shift:] + names[:shift]:
                count = args.iterations if "stream" not in name else max(args.iterations // 20, 20)
                measure(name, direct[name], count)
                provider.force_flush()
            # End to end: fewer iterations, the SDK itself is ~1 ms per call. "stock" is the same
            # instrumentor on a stock SDK provider (BatchSpanProcessor, no botanu processors): what
            # the span costs any instrumentation in a real call, cold caches included.
            sides = ["plain", "botanu", "stock"]
            shift = round_index % len(sides)
            for side in sides[shift:] + sides[:shift]:
                if side != "plain":
                    instrumentor.instrument(tracer_provider=provider if side == "botanu" else stock_provider)
                measure(f"e2e {side}", e2e["call"], max(args.iterations // 20, 20))
                if side != "plain":
                    instrumentor.uninstrument()
                provider.force_flush()
                stock_provider.force_flush()
    best = {name: min(values) for name, values in times.items()}
    medians = {name: statistics.median(values) for name, values in times.items()}
    for name in times:
        print(f"{name:36} {best[name]:9.2f} us/call (median round {medians[name]:.2f})")
    per_call = best["botanu call"] - best["plain call"]
    per_chunk = (best["botanu stream"] - best["plain stream"] - per_call) / args.chunks
    print(f"{'overhead per call':36} {per_call:9.2f} us  (goal <= 30)")
    floor = best["bare span, botanu pipeline"]
    print(f"{'  ratio to the same bare span':36} {per_call / floor:9.3f}")
    print(f"{'  beyond the same bare span':36} {per_call - floor:9.2f} us  (botanu's own code)")
    share = per_call - best["stock SDK span"]
    print(f"{'  beyond a stock SDK span':36} {share:9.2f} us  (botanu's instrumentor and pipeline)")
    print(f"{'overhead per stream chunk':36} {per_chunk:9.3f} us  ({args.chunks} chunks)")
    print(f"{'end to end ratio botanu / plain':36} {best['e2e botanu'] / best['e2e plain']:9.3f}")
    e2e_botanu = best["e2e botanu"] - best["e2e plain"]
    e2e_stock = best["e2e stock"] - best["e2e plain"]
    print(f"{'end to end, per call: botanu':36} {e2e_botanu:9.2f} us")
    print(f"{'  instrumentor on a stock provider':36} {e2e_stock:9.2f} us  (SDK span + batch processor)")
    print(f"{'  botanu pipeline beyond that':36} {e2e_botanu - e2e_stock:9.2f} us")
    provider.shutdown()


if __name__ == "__main__":
    main()

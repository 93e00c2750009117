"""Cost per business outcome: a run span carries the totals of every model call made inside it."""

from __future__ import annotations

import asyncio
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import genai_prices
import pytest
from opentelemetry import trace
from opentelemetry.trace import SpanKind

import botanu
from botanu.llm import _rollup

ANTHROPIC_SCOPE = "com.anthropic.sdk.python"


@pytest.fixture(autouse=True)
def _fresh_totals() -> Any:
    _rollup.reset()
    yield
    _rollup.reset()


def genai_cost(model: str, provider: str, **usage: int) -> float:
    return float(
        genai_prices.calc_price(genai_prices.Usage(**usage), model, provider_id=provider).total_price
    )


def native_call(
    model: str, input_tokens: int, output_tokens: int, name: str = "anthropic.messages.create"
) -> None:
    """A span as anthropic's own tracing makes it (its scope; attributes at start and end)."""
    tracer = trace.get_tracer(ANTHROPIC_SCOPE)
    attributes = {
        "gen_ai.provider.name": "anthropic",
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": model,
    }
    with tracer.start_as_current_span(name, kind=SpanKind.CLIENT, attributes=attributes) as span:
        span.set_attributes(
            {"gen_ai.usage.input_tokens": input_tokens, "gen_ai.usage.output_tokens": output_tokens}
        )


def manual_call(model: str, input_tokens: int, output_tokens: int) -> None:
    with botanu.llm_call("openai", model) as call:
        call.record_usage(input_tokens=input_tokens, output_tokens=output_tokens)


def exported(receiver: Any, count: int) -> list[Any]:
    botanu.force_flush(5)
    return receiver.wait_for_spans(count)


def run_span(receiver: Any, workflow: str) -> Any:
    return receiver.span(f"botanu.run/{workflow}")


def test_run_totals_cover_threads_tasks_and_every_source(botanu_init, otlp_receiver):
    botanu_init(instrumentations=["threading"])

    async def in_tasks() -> None:
        async def one(n: int) -> None:
            await asyncio.sleep(0)
            manual_call("gpt-4o-mini", 1000 * n, 100 * n)

        await asyncio.gather(*(asyncio.create_task(one(n)) for n in (1, 2, 3)))

    with botanu.event(event_id="T-1", customer_id="c", workflow="Support") as run:
        manual_call("gpt-4o", 5000, 500)
        with botanu.step("draft"):
            native_call("claude-3-5-haiku-20241022", 2000, 300)
        with ThreadPoolExecutor(max_workers=2) as pool:
            list(pool.map(lambda n: native_call("claude-3-5-haiku-20241022", 100 * n, 10 * n), (1, 2)))
        thread = threading.Thread(target=manual_call, args=("gpt-4o", 700, 70))
        thread.start()
        thread.join()
        asyncio.run(in_tasks())

    spans = exported(otlp_receiver, 10)
    calls = [s for s in spans if "botanu.cost.usd" in s.attributes and not s.name.startswith("botanu.run/")]
    assert len(calls) == 8
    assert all(s.attributes["botanu.run_id"] == run.run_id for s in calls)
    run_attributes = run_span(otlp_receiver, "Support").attributes
    assert run_attributes["botanu.llm.calls"] == 8
    assert run_attributes["botanu.llm.input_tokens"] == 5000 + 2000 + 300 + 700 + 6000
    assert run_attributes["botanu.llm.output_tokens"] == 500 + 300 + 30 + 70 + 600
    assert run_attributes["botanu.cost.usd"] == pytest.approx(
        sum(s.attributes["botanu.cost.usd"] for s in calls)
    )
    assert run_attributes["botanu.cost.usd"] == pytest.approx(
        genai_cost("gpt-4o", "openai", input_tokens=5700, output_tokens=570)
        + genai_cost("gpt-4o-mini", "openai", input_tokens=6000, output_tokens=600)
        + genai_cost("claude-3-5-haiku-20241022", "anthropic", input_tokens=2300, output_tokens=330)
    )
    assert "botanu.llm.open_calls" not in run_attributes
    assert _rollup.totals_for_tests() == (0, 0)  # nothing left behind


def test_failed_calls_count_as_calls(botanu_init, otlp_receiver):
    botanu_init()

    class RateLimited(Exception):
        pass

    with botanu.event(event_id="T-2", customer_id="c", workflow="Retry"):
        with pytest.raises(RateLimited), botanu.llm_call("openai", "gpt-4o"):
            raise RateLimited("429 Too Many Requests")
        manual_call("gpt-4o", 100, 10)

    spans = exported(otlp_receiver, 3)
    failed = next(s for s in spans if s.status_code == "ERROR" and s.name == "chat gpt-4o")
    assert failed.attributes["error.type"].endswith("RateLimited")
    assert "botanu.cost.usd" not in failed.attributes  # no usage: nothing to price, nothing guessed
    run_attributes = run_span(otlp_receiver, "Retry").attributes
    assert run_attributes["botanu.llm.calls"] == 2
    assert run_attributes["botanu.llm.input_tokens"] == 100
    assert run_attributes["botanu.cost.usd"] == pytest.approx(
        genai_cost("gpt-4o", "openai", input_tokens=100, output_tokens=10)
    )


def test_a_call_still_open_when_its_run_ends_is_counted(botanu_init, otlp_receiver):
    """An unfinished stream: its span ends after the run's span. It is reported, not lost."""
    botanu_init()
    tracer = trace.get_tracer(ANTHROPIC_SCOPE)
    with botanu.event(event_id="T-3", customer_id="c", workflow="Stream"):
        manual_call("gpt-4o", 100, 10)
        stream_span = tracer.start_span(
            "anthropic.messages.create",
            kind=SpanKind.CLIENT,
            attributes={
                "gen_ai.provider.name": "anthropic",
                "gen_ai.operation.name": "chat",
                "gen_ai.request.model": "claude-3-5-haiku-20241022",
            },
        )
    assert botanu.stats()["llm_calls_open_at_run_end"] == 1
    # The stream finishes later: its own span is priced, and it is not counted a second time.
    stream_span.set_attributes({"gen_ai.usage.input_tokens": 50, "gen_ai.usage.output_tokens": 5})
    stream_span.end()
    spans = exported(otlp_receiver, 3)
    run_attributes = run_span(otlp_receiver, "Stream").attributes
    assert run_attributes["botanu.llm.calls"] == 1
    assert run_attributes["botanu.llm.open_calls"] == 1
    late = next(s for s in spans if s.name == "anthropic.messages.create")
    assert late.attributes["botanu.cost.usd"] > 0
    assert botanu.stats()["llm_calls_open_at_run_end"] == 1
    assert botanu.stats().get("llm_calls_after_run_end", 0) == 0


def test_unpriced_calls_are_flagged_on_the_run(botanu_init, otlp_receiver):
    botanu_init()
    with botanu.event(event_id="T-4", customer_id="c", workflow="Mixed"):
        manual_call("gpt-4o", 100, 10)
        with botanu.llm_call("vllm", "my-finetune") as call:
            call.record_usage(input_tokens=1000, output_tokens=100)
    exported(otlp_receiver, 3)
    run_attributes = run_span(otlp_receiver, "Mixed").attributes
    assert run_attributes["botanu.llm.calls"] == 2
    assert run_attributes["botanu.llm.input_tokens"] == 1100
    assert run_attributes["botanu.llm.unpriced_calls"] == 1
    assert run_attributes["botanu.cost.usd"] == pytest.approx(
        genai_cost("gpt-4o", "openai", input_tokens=100, output_tokens=10)
    )


def test_nested_runs_keep_their_own_totals_and_runs_without_calls_get_none(botanu_init, otlp_receiver):
    botanu_init()
    with botanu.event(event_id="T-5", customer_id="c", workflow="Outer"):
        manual_call("gpt-4o", 100, 10)
        with botanu.event(event_id="T-6", customer_id="c", workflow="Inner"):
            manual_call("gpt-4o", 200, 20)
            manual_call("gpt-4o", 300, 30)
    with botanu.event(event_id="T-7", customer_id="c", workflow="NoLLM"):
        pass
    exported(otlp_receiver, 6)
    assert run_span(otlp_receiver, "Outer").attributes["botanu.llm.calls"] == 1
    assert run_span(otlp_receiver, "Inner").attributes["botanu.llm.calls"] == 2
    assert run_span(otlp_receiver, "Inner").attributes["botanu.llm.input_tokens"] == 500
    assert not any(key.startswith("botanu.llm.") for key in run_span(otlp_receiver, "NoLLM").attributes)
    assert "botanu.cost.usd" not in run_span(otlp_receiver, "NoLLM").attributes


def test_decorated_async_run_totals(botanu_init, otlp_receiver):
    botanu_init()

    @botanu.event(event_id="T-8", customer_id="c", workflow="Async")
    async def handle() -> None:
        async with botanu.llm_call("openai", "gpt-4o") as call:
            call.record_usage(input_tokens=40, output_tokens=4)

    asyncio.run(handle())
    exported(otlp_receiver, 2)
    assert run_span(otlp_receiver, "Async").attributes["botanu.llm.calls"] == 1


def test_runs_that_never_end_do_not_grow_memory(botanu_init, otlp_receiver, monkeypatch):
    botanu_init()
    monkeypatch.setattr(_rollup, "MAX_RUNS", 5)

    @botanu.event(event_id="T-9", customer_id="c", workflow="Leaked")
    def leaked() -> Any:
        manual_call("gpt-4o", 1, 1)
        yield 1  # never resumed: the run stays open

    generators = [leaked() for _ in range(12)]
    for generator in generators:
        next(generator)
    assert _rollup.totals_for_tests()[0] <= 5
    assert botanu.stats()["llm_rollup_runs_evicted"] == 7
    for generator in generators:
        generator.close()


def test_calls_in_a_process_that_only_received_the_run_are_not_held(botanu_init, otlp_receiver):
    """A downstream service: the run id came in baggage, the run span is elsewhere."""
    from opentelemetry import baggage, context

    botanu_init(trust_inbound_baggage=True)
    token = context.attach(baggage.set_baggage("botanu.run_id", "0192f0e4-7a1b-7c3d-8e9f-0a1b2c3d4e5f"))
    try:
        manual_call("gpt-4o", 10, 1)
    finally:
        context.detach(token)
    span = exported(otlp_receiver, 1)[0]
    assert span.attributes["botanu.run_id"] == "0192f0e4-7a1b-7c3d-8e9f-0a1b2c3d4e5f"
    assert span.attributes["botanu.cost.usd"] > 0  # a backend sums these by botanu.run_id
    assert _rollup.totals_for_tests() == (0, 0)


# --------------------------------------------------------------------------- the manual API


def test_llm_call_span_follows_the_gen_ai_conventions(botanu_init, otlp_receiver):
    botanu_init()
    with botanu.event(event_id="T-10", customer_id="c", workflow="Manual") as run:
        with botanu.llm_call("openai", "gpt-4o", operation="chat") as call:
            call.record_usage(
                input_tokens=1200,
                output_tokens=300,
                cache_read_input_tokens=200,
                cache_creation_input_tokens=0,
                reasoning_output_tokens=100,
            )
            call.set_response(model="gpt-4o-2024-08-06", id="chatcmpl-1", finish_reasons=["stop"])
    exported(otlp_receiver, 2)
    span = otlp_receiver.span("chat gpt-4o")
    assert span.kind == "CLIENT"
    assert span.attributes["botanu.run_id"] == run.run_id
    assert {k: v for k, v in span.attributes.items() if k.startswith("gen_ai.")} == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.response.model": "gpt-4o-2024-08-06",
        "gen_ai.response.id": "chatcmpl-1",
        "gen_ai.response.finish_reasons": ("stop",),
        "gen_ai.usage.input_tokens": 1200,
        "gen_ai.usage.output_tokens": 300,
        "gen_ai.usage.cache_read.input_tokens": 200,
        "gen_ai.usage.cache_creation.input_tokens": 0,
        "gen_ai.usage.reasoning.output_tokens": 100,
    }
    assert span.attributes["botanu.cost.usd"] == pytest.approx(
        genai_cost(
            "gpt-4o-2024-08-06",
            "openai",
            input_tokens=1200,
            output_tokens=300,
            cache_read_tokens=200,
            output_reasoning_tokens=100,
        )
    )


def test_llm_call_bad_input_warns_and_never_raises(botanu_init, otlp_receiver, caplog):
    botanu_init()
    with caplog.at_level(logging.WARNING, logger="botanu"):
        with botanu.llm_call("openai", 42) as call:  # type: ignore[arg-type]
            call.record_usage(input_tokens=-5)
            call.record_usage(output_tokens="many")  # type: ignore[arg-type]
            call.record_usage(input_tokens=True)  # type: ignore[arg-type]
            call.set_response(model=3, finish_reasons=[1])  # type: ignore[arg-type]
        call.record_usage(input_tokens=1)  # after the block
    messages = " ".join(r.getMessage() for r in caplog.records)
    for fragment in ("llm_call(model=...)", "input_tokens", "output_tokens", "finish_reasons", "outside"):
        assert fragment in messages
    span = exported(otlp_receiver, 1)[0]
    assert span.name == "chat"
    assert "gen_ai.usage.input_tokens" not in span.attributes


def test_llm_call_bad_input_raises_in_strict_mode(botanu_init):
    botanu_init(strict=True)
    with pytest.raises(botanu.BotanuUsageError):
        botanu.llm_call("openai", None)  # type: ignore[arg-type]
    with pytest.raises(botanu.BotanuUsageError), botanu.llm_call("openai", "gpt-4o") as call:
        call.record_usage(input_tokens=-1)


def test_llm_call_without_init_is_harmless(clean_botanu):
    with botanu.llm_call("openai", "gpt-4o") as call:
        call.record_usage(input_tokens=1, output_tokens=1)
        call.set_response(model="gpt-4o")


def test_many_concurrent_calls_are_all_counted(botanu_init, otlp_receiver):
    botanu_init(instrumentations=["threading"])
    with botanu.event(event_id="T-11", customer_id="c", workflow="Busy"):
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(lambda n: manual_call("gpt-4o-mini", n, 1), range(1, 201)))
    exported(otlp_receiver, 201)
    run_attributes = run_span(otlp_receiver, "Busy").attributes
    assert run_attributes["botanu.llm.calls"] == 200
    assert run_attributes["botanu.llm.input_tokens"] == sum(range(1, 201))
    assert run_attributes["botanu.llm.output_tokens"] == 200


def test_a_call_made_after_its_run_ended_is_counted_apart(botanu_init, otlp_receiver):
    """Work the run left behind (a callback still holding its context) calls a model after the run ended."""
    from opentelemetry import context

    botanu_init()
    with botanu.event(event_id="T-12", customer_id="c", workflow="Left"):
        left_behind = context.get_current()
    token = context.attach(left_behind)
    try:
        tracer = trace.get_tracer("opentelemetry.instrumentation.openai.v1")
        with tracer.start_as_current_span("openai.chat", attributes={"gen_ai.system": "openai"}) as span:
            span.set_attributes(
                {
                    "gen_ai.request.model": "gpt-4o",
                    "gen_ai.usage.prompt_tokens": 5,
                    "gen_ai.usage.completion_tokens": 1,
                }
            )
    finally:
        context.detach(token)
    exported(otlp_receiver, 2)
    assert botanu.stats()["llm_calls_after_run_end"] == 1
    assert "botanu.llm.calls" not in run_span(otlp_receiver, "Left").attributes
    assert otlp_receiver.span("openai.chat").attributes["botanu.cost.usd"] > 0
    assert _rollup.totals_for_tests() == (0, 0)  # nothing held for a run that is over

"""Cost per business outcome with the real openai and anthropic clients (botanu's instrumentors on).

The clients talk to the loopback fake API of this directory; its model names are not in
genai-prices, so their prices come from ``llm_prices`` (which is also how a price override
reaches real calls).
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

import botanu
from botanu.llm import _rollup

from ._fake_api import CLAUDE, CLAUDE_RESPONSE, MODEL, RESPONSE_MODEL
from .conftest import ANTHROPIC_KEY, OPENAI_KEY

openai = pytest.importorskip("openai")
anthropic = pytest.importorskip("anthropic")

PRICES = {
    f"openai/{RESPONSE_MODEL}": {"input": 2.0, "output": 8.0, "cache_read": 0.5},
    f"anthropic/{CLAUDE_RESPONSE}": {"input": 3.0, "output": 15.0, "cache_read": 0.3, "cache_write": 3.75},
}
MESSAGES = [{"role": "user", "content": "hi"}]


@pytest.fixture(autouse=True)
def _fresh_totals() -> Any:
    _rollup.reset()
    yield
    _rollup.reset()


def expected_cost(span: Any) -> float:
    """The cost from the span's own usage attributes and PRICES (what the stage must compute)."""
    attributes = span.attributes
    provider = attributes["gen_ai.provider.name"]
    price = PRICES[f"{provider}/{attributes['gen_ai.response.model']}"]
    total = attributes.get("gen_ai.usage.input_tokens", 0)
    cached = attributes.get("gen_ai.usage.cache_read.input_tokens", 0)
    # anthropic's own tracing spells the cache write cache_write (the semconv: cache_creation).
    written = attributes.get(
        "gen_ai.usage.cache_creation.input_tokens", attributes.get("gen_ai.usage.cache_write.input_tokens", 0)
    )
    output = attributes.get("gen_ai.usage.output_tokens", 0)
    return (
        (total - cached - written) * price["input"]
        + cached * price.get("cache_read", price["input"])
        + written * price.get("cache_write", price["input"])
        + output * price["output"]
    ) / 1e6


def test_real_clients_on_threads_and_tasks_roll_up_into_the_run(api, pipeline) -> None:
    p = pipeline(llm_prices=PRICES, instrumentations=["botanu_openai", "botanu_anthropic", "threading"])
    sync_openai = openai.OpenAI(api_key=OPENAI_KEY, base_url=api.base_url, max_retries=0)
    claude = anthropic.Anthropic(api_key=ANTHROPIC_KEY, base_url=api.anthropic_url, max_retries=0)

    async def in_tasks() -> None:
        async_openai = openai.AsyncOpenAI(api_key=OPENAI_KEY, base_url=api.base_url, max_retries=0)
        await asyncio.gather(
            *(async_openai.chat.completions.create(model=MODEL, messages=MESSAGES) for _ in range(3))
        )
        await async_openai.close()

    with botanu.event(event_id="T-1", customer_id="c", workflow="Clients") as run:
        sync_openai.chat.completions.create(model=MODEL, messages=MESSAGES)
        with pytest.raises(openai.RateLimitError):
            sync_openai.chat.completions.create(model="rate-limited", messages=MESSAGES)
        claude.messages.create(model=CLAUDE, max_tokens=16, messages=MESSAGES)
        with ThreadPoolExecutor(max_workers=2) as pool:
            list(
                pool.map(
                    lambda _: sync_openai.chat.completions.create(model=MODEL, messages=MESSAGES), range(2)
                )
            )
        asyncio.run(in_tasks())

    calls = p.genai(8)
    assert all(s.attributes["botanu.run_id"] == run.run_id for s in calls)
    priced = [s for s in calls if s.status_code != "ERROR"]
    assert len(priced) == 7
    for span in priced:
        assert span.attributes["botanu.cost.usd"] == pytest.approx(expected_cost(span), rel=1e-12)
    failed = [s for s in calls if s.status_code == "ERROR"]
    assert len(failed) == 1 and "botanu.cost.usd" not in failed[0].attributes

    run_attributes = p.receiver.span("botanu.run/Clients").attributes
    assert run_attributes["botanu.llm.calls"] == 8
    assert run_attributes["botanu.llm.input_tokens"] == sum(
        s.attributes.get("gen_ai.usage.input_tokens", 0) for s in calls
    )
    assert run_attributes["botanu.llm.output_tokens"] == sum(
        s.attributes.get("gen_ai.usage.output_tokens", 0) for s in calls
    )
    assert run_attributes["botanu.cost.usd"] == pytest.approx(
        sum(expected_cost(s) for s in priced), rel=1e-12
    )
    assert "botanu.llm.unpriced_calls" not in run_attributes


def test_a_stream_still_open_when_the_run_ends_is_reported(api, pipeline) -> None:
    p = pipeline(llm_prices=PRICES)
    client = openai.OpenAI(api_key=OPENAI_KEY, base_url=api.base_url, max_retries=0)
    before = botanu.stats().get("llm_calls_open_at_run_end", 0)
    with botanu.event(event_id="T-2", customer_id="c", workflow="Abandoned"):
        client.chat.completions.create(model=MODEL, messages=MESSAGES)
        stream = client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
        next(iter(stream))  # the app reads one chunk, and the run ends before the stream does
    assert botanu.stats()["llm_calls_open_at_run_end"] == before + 1
    stream.close()
    p.genai(2)
    run_attributes = p.receiver.span("botanu.run/Abandoned").attributes
    assert run_attributes["botanu.llm.calls"] == 1
    assert run_attributes["botanu.llm.open_calls"] == 1
    assert botanu.stats().get("llm_calls_after_run_end", 0) == 0  # reported once, at the run's end

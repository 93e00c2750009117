"""botanu.cost.usd on model-call spans, checked on the wire (loopback OTLP receiver).

Figures are checked against genai-prices' own calculation, never against constants: the
bundled table changes between releases.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import textwrap
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import genai_prices
import pytest
from opentelemetry import context, trace
from opentelemetry.sdk.trace import ReadableSpan, SpanLimits, SpanProcessor, TracerProvider
from opentelemetry.trace import SpanKind

import botanu
from botanu import _stats
from botanu.llm import _prices, _rollup

ANTHROPIC_SCOPE = "com.anthropic.sdk.python"


@pytest.fixture(autouse=True)
def _fresh_totals() -> Any:
    _rollup.reset()
    yield
    _rollup.reset()


def gpt5_cost(tier: str | None) -> float:
    """genai-prices' figure for 10,000 input and 1,000 output tokens of gpt-5 at ``tier``."""
    return float(
        genai_prices.calc_price(
            genai_prices.Usage(input_tokens=10_000, output_tokens=1_000),
            "gpt-5",
            provider_id="openai",
            price_context={"service_tier": tier} if tier else None,
        ).total_price
    )


def genai_cost(model: str, provider: str, **usage: int) -> float:
    return float(
        genai_prices.calc_price(genai_prices.Usage(**usage), model, provider_id=provider).total_price
    )


def model_call(
    attributes: dict[str, Any],
    usage: dict[str, Any] | None = None,
    *,
    scope: str = "tests.llm",
    name: str = "chat",
) -> None:
    """A span shaped like an instrumentation's model call: request attributes at start, usage at end."""
    tracer = trace.get_tracer(scope)
    with tracer.start_as_current_span(name, kind=SpanKind.CLIENT, attributes=attributes) as span:
        if usage:
            span.set_attributes(usage)


def received(receiver: Any, name: str, count: int = 1) -> Any:
    botanu.force_flush(5)
    receiver.wait_for_spans(count)
    return receiver.span(name)


OPENAI_GPT_4O = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "openai",
    "gen_ai.request.model": "gpt-4o",
}


def test_cost_of_a_known_model_is_genai_prices_figure(botanu_init, otlp_receiver):
    botanu_init()
    model_call(
        OPENAI_GPT_4O,
        {
            "gen_ai.response.model": "gpt-4o-2024-08-06",
            "gen_ai.usage.input_tokens": 12_000,  # includes the 4000 cached ones
            "gen_ai.usage.cache_read.input_tokens": 4_000,
            "gen_ai.usage.output_tokens": 900,
        },
        name="chat gpt-4o",
    )
    span = received(otlp_receiver, "chat gpt-4o")
    expected = genai_cost(
        "gpt-4o-2024-08-06", "openai", input_tokens=12_000, cache_read_tokens=4_000, output_tokens=900
    )
    assert expected > 0
    assert span.attributes["botanu.cost.usd"] == pytest.approx(expected, rel=1e-12)
    # Cached tokens are cheaper: pricing them as plain input would give a higher figure.
    assert span.attributes["botanu.cost.usd"] < genai_cost(
        "gpt-4o-2024-08-06", "openai", input_tokens=12_000, output_tokens=900
    )


def test_tiered_prices_follow_genai_prices_above_the_threshold(botanu_init, otlp_receiver):
    """Claude Sonnet 4.5 prices a call above 200k input tokens at a higher rate (all its tokens)."""
    botanu_init()
    usage = {"input_tokens": 250_000, "cache_write_tokens": 50_000, "output_tokens": 2_000}
    model_call(
        {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "anthropic", "gen_ai.request.model": "x"},
        {
            "gen_ai.response.model": "claude-sonnet-4-5",
            "gen_ai.usage.input_tokens": 250_000,
            "gen_ai.usage.cache_creation.input_tokens": 50_000,
            "gen_ai.usage.output_tokens": 2_000,
        },
        name="big",
    )
    span = received(otlp_receiver, "big")
    assert span.attributes["botanu.cost.usd"] == pytest.approx(
        genai_cost("claude-sonnet-4-5", "anthropic", **usage), rel=1e-12
    )


def test_provider_names_are_mapped_to_genai_prices_ids(botanu_init, otlp_receiver):
    botanu_init()
    model_call(
        {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "x_ai", "gen_ai.request.model": "grok-3"},
        {"gen_ai.usage.input_tokens": 1000, "gen_ai.usage.output_tokens": 100},
        name="grok",
    )
    span = received(otlp_receiver, "grok")
    assert span.attributes["botanu.cost.usd"] == pytest.approx(
        genai_cost("grok-3", "x-ai", input_tokens=1000, output_tokens=100), rel=1e-12
    )
    assert _prices.genai_provider_id("aws.bedrock") == "aws"
    assert _prices.genai_provider_id("azure.ai.openai") == "azure"
    assert _prices.genai_provider_id("gcp.vertex_ai") == "google"
    assert _prices.genai_provider_id("OpenAI") == "openai"


def test_a_span_from_anthropics_native_tracing_gets_cost(botanu_init, otlp_receiver):
    """anthropic 2.x's own span: its scope, its name, and its spelling of cache writes."""
    botanu_init()
    model_call(
        {
            "gen_ai.provider.name": "anthropic",
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "claude-3-5-haiku-latest",
            "server.address": "api.anthropic.com",
        },
        {
            "gen_ai.response.model": "claude-3-5-haiku-20241022",
            "gen_ai.usage.input_tokens": 3_000,  # anthropic sets input + cache read + cache write
            "gen_ai.usage.cache_read.input_tokens": 1_000,
            "gen_ai.usage.cache_write.input_tokens": 500,
            "gen_ai.usage.output_tokens": 250,
        },
        scope=ANTHROPIC_SCOPE,
        name="anthropic.messages.create",
    )
    span = received(otlp_receiver, "anthropic.messages.create")
    assert span.scope == ANTHROPIC_SCOPE
    expected = genai_cost(
        "claude-3-5-haiku-20241022",
        "anthropic",
        input_tokens=3_000,
        cache_read_tokens=1_000,
        cache_write_tokens=500,
        output_tokens=250,
    )
    assert span.attributes["botanu.cost.usd"] == pytest.approx(expected, rel=1e-12)


def test_openllmetry_style_legacy_attributes_get_cost(botanu_init, otlp_receiver):
    botanu_init()
    model_call(
        {"gen_ai.system": "OpenAI", "llm.request.type": "chat", "gen_ai.request.model": "gpt-4o-mini"},
        {"gen_ai.usage.prompt_tokens": 500, "gen_ai.usage.completion_tokens": 50},
        scope="opentelemetry.instrumentation.openai.v1",
        name="openai.chat",
    )
    span = received(otlp_receiver, "openai.chat")
    assert span.attributes["botanu.cost.usd"] == pytest.approx(
        genai_cost("gpt-4o-mini", "openai", input_tokens=500, output_tokens=50), rel=1e-12
    )


def write_prices(tmp_path: Any, prices: dict[str, Any], name: str = "prices.json") -> str:
    path = tmp_path / name
    path.write_text(json.dumps(prices))
    return str(path)


def test_price_override_file_wins_over_genai_prices(botanu_init, otlp_receiver, tmp_path):
    path = write_prices(tmp_path, {"openai/gpt-4o": {"input": 1.0, "output": 3.0, "cache_read": 0.5}})
    botanu_init(llm_prices=path)
    model_call(
        OPENAI_GPT_4O,
        {
            "gen_ai.usage.input_tokens": 2_000_000,
            "gen_ai.usage.cache_read.input_tokens": 1_000_000,
            "gen_ai.usage.output_tokens": 1_000_000,
        },
        name="chat gpt-4o",
    )
    span = received(otlp_receiver, "chat gpt-4o")
    # 1M uncached input at $1 + 1M cached at $0.5 + 1M output at $3, per million tokens.
    assert span.attributes["botanu.cost.usd"] == pytest.approx(4.5, rel=1e-12)
    assert span.attributes["botanu.cost.usd"] != pytest.approx(
        genai_cost(
            "gpt-4o", "openai", input_tokens=2_000_000, cache_read_tokens=1_000_000, output_tokens=1_000_000
        )
    )


def test_missing_cache_price_means_the_input_price(botanu_init, otlp_receiver, tmp_path, monkeypatch):
    """A self-hosted model priced only from the file (given by environment variable, as YAML)."""
    path = tmp_path / "prices.yaml"
    path.write_text('"vllm/llama-3.1-70b":\n  input: 0.8\n  output: 2.4\n')
    monkeypatch.setenv("BOTANU_LLM_PRICES", str(path))
    botanu_init()
    model_call(
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "vllm",
            "gen_ai.request.model": "Llama-3.1-70B",
        },
        {
            "gen_ai.usage.input_tokens": 1_000_000,
            "gen_ai.usage.cache_read.input_tokens": 600_000,
            "gen_ai.usage.cache_creation.input_tokens": 100_000,
            "gen_ai.usage.output_tokens": 500_000,
        },
        name="self-hosted",
    )
    span = received(otlp_receiver, "self-hosted")
    assert span.attributes["botanu.cost.usd"] == pytest.approx(0.8 + 1.2, rel=1e-12)


def test_unknown_model_gets_no_cost_and_is_counted(botanu_init, otlp_receiver):
    botanu_init()
    before = _stats.get("llm_cost_unknown_model")
    model_call(
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "gpt-99-x",
        },
        {"gen_ai.usage.input_tokens": 10, "gen_ai.usage.output_tokens": 10},
        name="unknown",
    )
    model_call(  # an unknown provider is not guessed from the model name either
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "my-gateway",
            "gen_ai.request.model": "gpt-4o",
        },
        {"gen_ai.usage.input_tokens": 10, "gen_ai.usage.output_tokens": 10},
        name="gateway",
    )
    assert "botanu.cost.usd" not in received(otlp_receiver, "unknown", 2).attributes
    assert "botanu.cost.usd" not in otlp_receiver.span("gateway").attributes
    assert botanu.stats()["llm_cost_unknown_model"] == before + 2


def test_ordinary_agent_and_non_model_spans_are_passed_through(botanu_init, otlp_receiver):
    botanu_init()
    tracer = trace.get_tracer("tests.llm")
    with botanu.event(event_id="e", customer_id="c", workflow="NoModelCalls"):
        with tracer.start_as_current_span("plain", attributes={"http.request.method": "GET"}):
            pass
        model_call(  # an agent span repeating its children's usage must not be priced (double count)
            {
                "gen_ai.operation.name": "invoke_agent",
                "gen_ai.provider.name": "openai",
                "gen_ai.request.model": "gpt-4o",
            },
            {"gen_ai.usage.input_tokens": 1000, "gen_ai.usage.output_tokens": 1000},
            name="agent",
        )
        model_call(  # anthropic's span for an API call that is no model call
            {"gen_ai.provider.name": "anthropic"}, scope=ANTHROPIC_SCOPE, name="anthropic.models.list"
        )
    botanu.force_flush(5)
    otlp_receiver.wait_for_spans(4)
    for name in ("plain", "agent", "anthropic.models.list", "botanu.run/NoModelCalls"):
        assert "botanu.cost.usd" not in otlp_receiver.span(name).attributes
    assert "botanu.llm.calls" not in otlp_receiver.span("botanu.run/NoModelCalls").attributes


def test_cost_with_redaction_off(botanu_init, otlp_receiver):
    botanu_init(redaction=False)
    model_call(OPENAI_GPT_4O, {"gen_ai.usage.input_tokens": 100, "gen_ai.usage.output_tokens": 10}, name="c")
    span = received(otlp_receiver, "c")
    assert span.attributes["botanu.cost.usd"] == pytest.approx(
        genai_cost("gpt-4o", "openai", input_tokens=100, output_tokens=10), rel=1e-12
    )


def test_cost_and_redaction_together(botanu_init, otlp_receiver):
    """A model-call span that also needs redaction: the exported copy is redacted and priced."""
    botanu_init()
    model_call(
        {**OPENAI_GPT_4O, "api_key": "sk-proj-abcdefghijklmnopqrstuvwxyz0123456789"},
        {"gen_ai.usage.input_tokens": 100, "gen_ai.usage.output_tokens": 10},
        name="c",
    )
    span = received(otlp_receiver, "c")
    assert "abcdefghijklmnopqrstuvwxyz0123456789" not in str(span.attributes)
    assert span.attributes["botanu.redaction.count"] == 1
    assert span.attributes["botanu.cost.usd"] > 0


# --------------------------------------------------------------------------- bad price files


@pytest.mark.parametrize(
    "content",
    [
        "{not json",
        json.dumps(["openai/gpt-4o"]),
        json.dumps({"openai/gpt-4o": {"input": "cheap", "output": 1}}),
        json.dumps({"gpt-4o": {"input": 1, "output": 1}}),
        json.dumps({"openai/gpt-4o": {"input": 1}}),
        json.dumps({"openai/gpt-4o": {"input": -1, "output": 1}}),
        json.dumps({"openai/gpt-4o": {"input": 1, "output": 1, "cached_input": 0.1}}),
    ],
)
def test_a_bad_price_file_gives_one_warning_and_never_crashes(
    botanu_init, otlp_receiver, tmp_path, caplog, content
):
    path = tmp_path / "prices.json"
    path.write_text(content)
    with caplog.at_level(logging.WARNING, logger="botanu"):
        botanu_init(llm_prices=str(path))
    warnings = [r for r in caplog.records if "llm_prices" in r.getMessage()]
    assert len(warnings) == 1, [r.getMessage() for r in caplog.records]
    # The pipeline works, with genai-prices' figure (the bad entry did not apply).
    model_call(OPENAI_GPT_4O, {"gen_ai.usage.input_tokens": 100, "gen_ai.usage.output_tokens": 10}, name="c")
    assert received(otlp_receiver, "c").attributes["botanu.cost.usd"] == pytest.approx(
        genai_cost("gpt-4o", "openai", input_tokens=100, output_tokens=10), rel=1e-12
    )


def test_a_missing_price_file_warns(botanu_init, tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="botanu"):
        botanu_init(llm_prices=str(tmp_path / "nope.json"))
    assert any("could not be read" in r.getMessage() for r in caplog.records)


def test_good_entries_of_a_partly_bad_file_still_apply(botanu_init, otlp_receiver, tmp_path):
    path = write_prices(
        tmp_path, {"openai/gpt-4o": {"input": 2, "output": 4}, "openai/gpt-4o-mini": {"input": "x"}}
    )
    botanu_init(llm_prices=path)
    model_call(
        OPENAI_GPT_4O, {"gen_ai.usage.input_tokens": 500_000, "gen_ai.usage.output_tokens": 0}, name="c"
    )
    assert received(otlp_receiver, "c").attributes["botanu.cost.usd"] == pytest.approx(1.0)


def test_strict_mode_raises_on_a_bad_price_file(botanu_init, tmp_path):
    path = write_prices(tmp_path, {"openai/gpt-4o": {"input": 1}})
    with pytest.raises(botanu.BotanuUsageError):
        botanu_init(llm_prices=path, strict=True)


def test_prices_given_as_a_mapping_in_code(botanu_init, otlp_receiver):
    botanu_init(llm_prices={"Acme/Model-1": {"input": 10, "output": 20, "cache_write": 12.5}})
    model_call(
        {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "acme", "gen_ai.request.model": "model-1"},
        {
            "gen_ai.usage.input_tokens": 300_000,
            "gen_ai.usage.cache_creation.input_tokens": 100_000,
            "gen_ai.usage.output_tokens": 50_000,
        },
        name="c",
    )
    expected = (200_000 * 10 + 100_000 * 12.5 + 50_000 * 20) / 1e6
    assert received(otlp_receiver, "c").attributes["botanu.cost.usd"] == pytest.approx(expected, rel=1e-12)


# --------------------------------------------------------------------------- genai-prices absent / lazy


def test_without_genai_prices_only_overrides_apply(botanu_init, otlp_receiver, monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, "genai_prices", None)  # `import genai_prices` now fails
    monkeypatch.setattr(_prices, "_genai_missing", False)
    botanu_init(llm_prices={"openai/gpt-4o": {"input": 1, "output": 1}})
    with caplog.at_level(logging.WARNING, logger="botanu"):
        model_call(
            OPENAI_GPT_4O, {"gen_ai.usage.input_tokens": 1_000_000, "gen_ai.usage.output_tokens": 0}, name="a"
        )
        for _ in range(3):
            model_call(
                {**OPENAI_GPT_4O, "gen_ai.request.model": "gpt-4o-mini"},
                {"gen_ai.usage.input_tokens": 10, "gen_ai.usage.output_tokens": 10},
                name="b",
            )
    botanu.force_flush(5)
    otlp_receiver.wait_for_spans(4)
    assert otlp_receiver.span("a").attributes["botanu.cost.usd"] == pytest.approx(1.0)
    assert all("botanu.cost.usd" not in s.attributes for s in otlp_receiver.spans() if s.name == "b")
    assert len([r for r in caplog.records if "genai-prices is not installed" in r.getMessage()]) == 1


def test_genai_prices_is_not_imported_by_init_or_ordinary_spans():
    code = textwrap.dedent(
        """
        import sys, botanu
        botanu.init(endpoint="http://127.0.0.1:9/v1/traces", instrumentations=False, spool=False)
        with botanu.event(event_id="e", customer_id="c", workflow="W"):
            with botanu.step("s"):
                pass
        print("genai_prices" in sys.modules, "pydantic" in sys.modules)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert out.stdout.split() == ["False", "False"], out.stderr


def test_formula_agrees_with_genai_prices_for_every_bundled_model():
    """Every price in the table is reproduced by the fast formula (else that model uses genai-prices)."""
    from genai_prices import data_snapshot

    now = datetime.now(tz=timezone.utc)
    disagreeing = []
    for provider in data_snapshot.get_snapshot().providers:
        for model in provider.models:
            prices = [c.prices for c in model.prices] if isinstance(model.prices, list) else [model.prices]
            # Service-tier and batch variants too.
            prices += [model.get_prices(now, variant.when) for variant in model.price_variants or ()]
            disagreeing += [
                (provider.id, model.id)
                for price in prices
                if not _prices._agrees(_prices._derive(price), price)
            ]
    assert disagreeing == []


def test_decimal_figures_survive_float_conversion():
    """The attribute is a float: a typical call's cost keeps its digits."""
    usage = _prices.Usage(input=1234, output=567, cache_read=200)
    price = _prices.PriceTable().lookup("openai", "gpt-4o")
    assert price is not None
    exact = genai_prices.calc_price(
        genai_prices.Usage(input_tokens=1234, output_tokens=567, cache_read_tokens=200),
        "gpt-4o",
        provider_id="openai",
    ).total_price
    assert Decimal(repr(price.cost(usage, 0))).quantize(Decimal("1e-12")) == exact.quantize(Decimal("1e-12"))


def test_a_failure_while_pricing_never_reaches_the_app(botanu_init, otlp_receiver, monkeypatch, caplog):
    botanu_init()

    def broken(self: Any, provider: str, model: str) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(_prices.PriceTable, "lookup", broken)
    with caplog.at_level(logging.ERROR, logger="botanu"):
        model_call(OPENAI_GPT_4O, {"gen_ai.usage.input_tokens": 1, "gen_ai.usage.output_tokens": 1}, name="c")
        model_call(OPENAI_GPT_4O, {"gen_ai.usage.input_tokens": 1, "gen_ai.usage.output_tokens": 1}, name="d")
    botanu.force_flush(5)
    otlp_receiver.wait_for_spans(2)
    assert "botanu.cost.usd" not in otlp_receiver.span("c").attributes  # exported, without a cost
    assert "botanu.cost.usd" not in otlp_receiver.span("d").attributes
    assert len([r for r in caplog.records if "pricing an LLM call" in r.getMessage()]) == 1


def test_a_broken_yaml_price_file_warns(botanu_init, tmp_path, caplog):
    path = tmp_path / "prices.yml"
    path.write_text("openai/gpt-4o: [input: 1\n")
    with caplog.at_level(logging.WARNING, logger="botanu"):
        botanu_init(llm_prices=str(path))
    assert len([r for r in caplog.records if "llm_prices" in r.getMessage()]) == 1


@pytest.mark.parametrize("tier_key", ["openai.response.service_tier", "gen_ai.openai.response.service_tier"])
def test_the_service_tier_that_served_the_call_is_priced(botanu_init, otlp_receiver, tier_key):
    """OpenAI's flex tier costs about half, priority more: the span's tier picks genai-prices' variant."""
    botanu_init()
    usage = {"gen_ai.usage.input_tokens": 10_000, "gen_ai.usage.output_tokens": 1_000}
    request = {**OPENAI_GPT_4O, "gen_ai.request.model": "gpt-5"}
    for tier in ("flex", "priority"):
        model_call(request, {**usage, tier_key: tier}, name=tier)
    model_call(request, usage, name="standard")
    botanu.force_flush(5)
    otlp_receiver.wait_for_spans(3)

    costs = {
        name: otlp_receiver.span(name).attributes["botanu.cost.usd"]
        for name in ("flex", "priority", "standard")
    }
    assert costs["flex"] == pytest.approx(gpt5_cost("flex"), rel=1e-12)
    assert costs["priority"] == pytest.approx(gpt5_cost("priority"), rel=1e-12)
    assert costs["standard"] == pytest.approx(gpt5_cost(None), rel=1e-12)
    assert costs["flex"] < costs["standard"] < costs["priority"]


def test_anthropic_one_hour_cache_writes_are_priced_as_such(botanu_init, otlp_receiver):
    botanu_init()
    model_call(
        {"gen_ai.provider.name": "anthropic", "gen_ai.operation.name": "chat", "gen_ai.request.model": "x"},
        {
            "gen_ai.response.model": "claude-sonnet-4-5",
            "gen_ai.usage.input_tokens": 10_000,
            "gen_ai.usage.cache_write.input_tokens": 3_000,
            "anthropic.usage.cache_creation.ephemeral_1h_input_tokens": 1_000,
            "anthropic.usage.cache_creation.ephemeral_5m_input_tokens": 2_000,
            "gen_ai.usage.output_tokens": 10,
        },
        scope=ANTHROPIC_SCOPE,
        name="anthropic.messages.create",
    )
    cost = received(otlp_receiver, "anthropic.messages.create").attributes["botanu.cost.usd"]
    usage = {"input_tokens": 10_000, "cache_write_tokens": 3_000, "output_tokens": 10}
    assert cost == pytest.approx(
        genai_cost("claude-sonnet-4-5", "anthropic", cache_write_1h_tokens=1_000, **usage), rel=1e-12
    )
    assert cost > genai_cost("claude-sonnet-4-5", "anthropic", **usage)  # an hour's write costs more


def test_a_model_priced_once_without_a_tier_still_prices_each_tier():
    """The remembered undated price of a model never stands in for one of its service tiers."""
    model = _prices.PriceTable().lookup("openai", "gpt-5")
    usage = _prices.Usage(10_000, 1_000)

    for tier in (None, "flex", None, "priority", "flex"):
        assert model.cost(usage, 0, tier) == pytest.approx(gpt5_cost(tier), rel=1e-12)


def test_the_priced_copy_is_the_ended_span_field_for_field():
    from opentelemetry.sdk.trace import TracerProvider

    from botanu.llm._cost import _with_cost

    provider = TracerProvider()
    span = provider.get_tracer("t").start_span("chat gpt-4o", kind=SpanKind.CLIENT, attributes=OPENAI_GPT_4O)
    span.add_event("retry", {"n": 1})
    span.end()
    ended = span._readable_span()
    copy = _with_cost(ended, ended._attributes._dict, 0.25)
    assert copy.attributes == {**OPENAI_GPT_4O, "botanu.cost.usd": 0.25}
    assert "botanu.cost.usd" not in ended.attributes and "botanu.cost.usd" not in span.attributes
    # Every other field (ids, parent, times, kind, status, events, resource, scope) as ended.
    assert json.loads(copy.to_json()) == {
        **json.loads(ended.to_json()),
        "attributes": {**OPENAI_GPT_4O, "botanu.cost.usd": 0.25},
    }
    assert copy.dropped_attributes == ended.dropped_attributes and copy.events == ended.events


class _Seen(SpanProcessor):
    """A user's own processor on the same provider: what it is handed at span end."""

    def __init__(self) -> None:
        self.ended: list[ReadableSpan] = []

    def on_end(self, span: ReadableSpan) -> None:
        self.ended.append(span)


@pytest.mark.parametrize("user_first", [True, False], ids=["user processor first", "botanu first"])
def test_the_cost_is_added_as_the_span_ends_so_every_processor_sees_it(
    botanu_init, otlp_receiver, user_first
):
    seen = _Seen()
    provider = TracerProvider(shutdown_on_exit=False)
    if user_first:
        provider.add_span_processor(seen)
    trace.set_tracer_provider(provider)  # the app's provider: botanu attaches to it
    botanu_init()
    if not user_first:
        provider.add_span_processor(seen)
    usage = {"gen_ai.usage.input_tokens": 1200, "gen_ai.usage.output_tokens": 300}
    with provider.get_tracer("tests.llm").start_as_current_span(
        "chat gpt-4o", kind=SpanKind.CLIENT, attributes=OPENAI_GPT_4O
    ) as live:
        live.set_attributes(usage)
    expected = genai_cost("gpt-4o", "openai", input_tokens=1200, output_tokens=300)
    assert live.attributes["botanu.cost.usd"] == pytest.approx(expected, rel=1e-12)
    assert seen.ended[0].attributes["botanu.cost.usd"] == pytest.approx(expected, rel=1e-12)
    assert received(otlp_receiver, "chat gpt-4o").attributes["botanu.cost.usd"] == pytest.approx(
        expected, rel=1e-12
    )


def test_a_span_at_its_attribute_limit_is_priced_in_a_copy(botanu_init, otlp_receiver):
    provider = TracerProvider(span_limits=SpanLimits(max_span_attributes=5), shutdown_on_exit=False)
    trace.set_tracer_provider(provider)
    botanu_init()
    usage = {"gen_ai.usage.input_tokens": 1200, "gen_ai.usage.output_tokens": 300}
    with provider.get_tracer("tests.llm").start_as_current_span(
        "chat gpt-4o", kind=SpanKind.CLIENT, attributes=OPENAI_GPT_4O
    ) as live:
        live.set_attributes(usage)
    assert len(live.attributes) == 5 and "botanu.cost.usd" not in live.attributes
    expected = genai_cost("gpt-4o", "openai", input_tokens=1200, output_tokens=300)
    exported = received(otlp_receiver, "chat gpt-4o")
    assert exported.attributes["botanu.cost.usd"] == pytest.approx(expected, rel=1e-12)


def test_without_the_ending_step_the_call_is_priced_once_at_its_end(botanu_init, otlp_receiver):
    """An SDK that never calls OnEnding (older ones): priced in on_end, counted in its run once."""
    from botanu import _pipeline

    botanu_init()
    processor = _pipeline._active.processors.combined  # type: ignore[union-attr]
    usage = {"gen_ai.usage.input_tokens": 1200, "gen_ai.usage.output_tokens": 300}
    with botanu.event(event_id="e-1", customer_id="c-1", workflow="Cost") as run:
        span = trace.get_tracer("tests.llm").start_span(
            "chat gpt-4o", kind=SpanKind.CLIENT, attributes=OPENAI_GPT_4O
        )
        span.set_attributes(usage)
        # What Span.end() does on such an SDK: straight to on_end, with no OnEnding first.
        span._end_time = span.start_time + 1
        processor.on_end(span._readable_span())
    expected = genai_cost("gpt-4o", "openai", input_tokens=1200, output_tokens=300)
    botanu.force_flush(5)
    otlp_receiver.wait_for_spans(2)
    assert otlp_receiver.span("chat gpt-4o").attributes["botanu.cost.usd"] == pytest.approx(
        expected, rel=1e-12
    )
    run_span = otlp_receiver.span("botanu.run/Cost")
    assert run_span.attributes["botanu.llm.calls"] == 1
    assert run_span.attributes["botanu.cost.usd"] == pytest.approx(expected, rel=1e-12)
    assert run.run_id == run_span.attributes["botanu.run_id"]


def test_with_processors_called_on_a_thread_pool_a_call_counts_once(botanu_init, otlp_receiver):
    """The SDK's concurrent multi-processor may run OnEnding and OnEnd on different threads."""
    from opentelemetry.sdk.trace import ConcurrentMultiSpanProcessor

    provider = TracerProvider(active_span_processor=ConcurrentMultiSpanProcessor(4), shutdown_on_exit=False)
    trace.set_tracer_provider(provider)
    botanu_init()
    usage = {"gen_ai.usage.input_tokens": 1200, "gen_ai.usage.output_tokens": 300}
    tracer = trace.get_tracer("tests.llm")
    with botanu.event(event_id="e-2", customer_id="c-2", workflow="Pool"):
        for _ in range(5):
            # With the context given explicitly: on a pool thread, the current context is not the app's.
            span = tracer.start_span(
                "chat gpt-4o", context=context.get_current(), kind=SpanKind.CLIENT, attributes=OPENAI_GPT_4O
            )
            span.set_attributes(usage)
            span.end()
    expected = genai_cost("gpt-4o", "openai", input_tokens=1200, output_tokens=300)
    botanu.force_flush(5)
    otlp_receiver.wait_for_spans(6)
    run_span = otlp_receiver.span("botanu.run/Pool")
    assert run_span.attributes["botanu.llm.calls"] == 5
    assert run_span.attributes["botanu.cost.usd"] == pytest.approx(5 * expected, rel=1e-12)
    calls = [span for span in otlp_receiver.spans() if span.name == "chat gpt-4o"]
    assert [span.attributes["botanu.cost.usd"] for span in calls] == pytest.approx([expected] * 5, rel=1e-12)


def test_the_ending_step_reaches_a_processor_behind_the_stage_that_uses_it():
    from botanu.llm import LlmCostProcessor
    from botanu.redaction import RedactingSpanProcessor

    class UsesEnding(SpanProcessor):
        def __init__(self) -> None:
            self.ending: list[Any] = []

        def _on_ending(self, span: Any) -> None:
            self.ending.append(span.name)

    behind = UsesEnding()
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(LlmCostProcessor(behind))
    provider.add_span_processor(LlmCostProcessor(RedactingSpanProcessor(behind)))
    provider.get_tracer("t").start_span("work").end()
    assert behind.ending == ["work", "work"]
    # Processors that ignore it are not called for nothing.
    assert LlmCostProcessor(_Seen())._forward_ending is None
    assert LlmCostProcessor(RedactingSpanProcessor(_Seen()))._forward_ending is None


class _Ended:
    """The two fields the cost stage reads from a span besides its attributes."""

    context = None
    start_time = 0


def _stage() -> Any:
    from botanu.llm._cost import LlmCostProcessor

    return LlmCostProcessor(SpanProcessor())


def test_the_plain_route_gives_the_general_routes_figure_for_every_bundled_model():
    """Once a model is priced, a call with only input and output tokens takes two products: for every
    model of the table, the same float as the general route (and genai-prices' formula) gives."""
    from genai_prices import data_snapshot

    stage = _stage()
    usages = [(0, 0), (1, 1), (12, 7), (1_234, 567), (199_999, 3), (200_001, 4_096), (3_000_000, 1)]
    mismatched, plain = [], 0
    for provider in data_snapshot.get_snapshot().providers:
        for model in provider.models:
            attributes = {"gen_ai.provider.name": provider.id, "gen_ai.response.model": model.id}
            for input_tokens, output_tokens in usages:
                call = {
                    **attributes,
                    "gen_ai.usage.input_tokens": input_tokens,
                    "gen_ai.usage.output_tokens": output_tokens,
                }
                general = stage.cost_of(call, _prices.Usage(input_tokens, output_tokens))
                plain += stage.prices.flat_rates(provider.id, model.id) is not None
                if stage._account(_Ended(), call) != general:
                    mismatched.append((provider.id, model.id, input_tokens, output_tokens))
    assert mismatched == []
    assert plain > 10_000  # most calls of most models took the plain route


def test_a_remembered_flat_price_never_prices_a_tier_cache_tokens_or_a_dated_model():
    stage = _stage()
    plain = {
        "gen_ai.provider.name": "openai",
        "gen_ai.operation.name": "chat",
        "gen_ai.response.model": "gpt-5",
    }
    usage = {"gen_ai.usage.input_tokens": 10_000, "gen_ai.usage.output_tokens": 1_000}
    assert stage._account(_Ended(), {**plain, **usage}) == pytest.approx(gpt5_cost(None), rel=1e-12)
    assert stage.prices.flat_rates("openai", "gpt-5") is not None

    for tier in ("flex", "priority"):
        priced = stage._account(_Ended(), {**plain, **usage, "openai.response.service_tier": tier})
        assert priced == pytest.approx(gpt5_cost(tier), rel=1e-12)
    cached = stage._account(_Ended(), {**plain, **usage, "gen_ai.usage.cache_read.input_tokens": 4_000})
    assert cached == pytest.approx(
        genai_cost("gpt-5", "openai", input_tokens=10_000, cache_read_tokens=4_000, output_tokens=1_000),
        rel=1e-12,
    )
    assert stage._account(_Ended(), {**plain, **usage, "botanu.cost.usd": 1.5}) is None  # kept as set
    assert stage._account(_Ended(), {**plain, **usage, "gen_ai.operation.name": "invoke_agent"}) is None

    dated = {"gen_ai.provider.name": "anthropic", "gen_ai.response.model": "claude-opus-4-6", **usage}
    for _ in range(2):
        assert stage._account(_Ended(), dated) == pytest.approx(
            genai_cost("claude-opus-4-6", "anthropic", input_tokens=10_000, output_tokens=1_000), rel=1e-12
        )
    assert stage.prices.flat_rates("anthropic", "claude-opus-4-6") is None


def test_zero_usage_details_as_openai_reports_them_keep_a_call_on_the_plain_route(monkeypatch):
    from botanu.llm import _cost

    stage = _stage()
    call = {
        "gen_ai.provider.name": "openai",
        "gen_ai.response.model": "gpt-4o",
        "gen_ai.usage.input_tokens": 1_000,
        "gen_ai.usage.output_tokens": 100,
    }
    plain_cost = stage._account(_Ended(), call)  # priced once: its flat rates are known from now on
    zeros = {**call, "gen_ai.usage.cache_read.input_tokens": 0, "gen_ai.usage.reasoning.output_tokens": 0}
    with monkeypatch.context() as patched:
        patched.setattr(_cost, "read_usage", None)  # the general route would fail: not taken
        assert stage._account(_Ended(), zeros) == plain_cost
    # Details other than zero take the general route, and are priced.
    cached = stage._account(_Ended(), {**zeros, "gen_ai.usage.cache_read.input_tokens": 400})
    assert cached == stage.cost_of(call, _prices.Usage(1_000, 100, cache_read=400)) < plain_cost
    assert stage._account(_Ended(), {**zeros, "gen_ai.usage.reasoning.output_tokens": 1.0}) == stage.cost_of(
        call, _prices.Usage(1_000, 100, reasoning=1)
    )

"""Whatever goes wrong inside botanu's LLM instrumentation, the app's call works as without it."""

from __future__ import annotations

import logging

import pytest

import botanu

from ._fake_api import MODEL, TEXT
from .conftest import OPENAI_KEY

openai = pytest.importorskip("openai")

HI = [{"role": "user", "content": "hi"}]


def client(api):
    return openai.OpenAI(api_key=OPENAI_KEY, base_url=api.base_url, max_retries=0)


def test_a_failing_request_hook_leaves_the_call_alone(api, pipeline, monkeypatch, caplog) -> None:
    from botanu_instrumentation.openai._adapter import OpenAIAdapter

    pipeline()

    def broken(*args, **kwargs):
        raise RuntimeError("bug in botanu")

    monkeypatch.setattr(OpenAIAdapter, "describe", broken)
    with caplog.at_level(logging.DEBUG, logger="botanu.instrumentation"):
        for _ in range(3):
            assert (
                client(api).chat.completions.create(model=MODEL, messages=HI).choices[0].message.content
                == TEXT
            )
    warnings = [
        r for r in caplog.records if r.levelno == logging.WARNING and "gen_ai request start" in r.message
    ]
    assert len(warnings) == 1  # reported once, then quiet


def test_failing_result_and_event_readers_leave_results_and_streams_alone(api, pipeline, monkeypatch) -> None:
    from botanu_instrumentation.openai import _adapter

    p = pipeline()

    def broken(*args, **kwargs):
        raise RuntimeError("bug in botanu")

    monkeypatch.setattr(_adapter.OpenAIAdapter, "record", broken)
    monkeypatch.setattr(_adapter.ChatStreamRecorder, "item", broken)
    monkeypatch.setattr(_adapter.ChatStreamRecorder, "complete", broken)
    c = client(api)
    assert c.chat.completions.create(model=MODEL, messages=HI).id == "chatcmpl-1"
    stream = c.chat.completions.create(model=MODEL, messages=HI, stream=True)
    assert "".join(chunk.choices[0].delta.content or "" for chunk in stream) == TEXT
    assert len(p.genai(2)) == 2  # the spans still end


def test_legacy_completions(api, pipeline) -> None:
    p = pipeline()
    with botanu.event(event_id="e", customer_id="c", workflow="w", capture_input=True):
        result = client(api).completions.create(model=MODEL, prompt="say hi")
        streamed = "".join(
            c.choices[0].text for c in client(api).completions.create(model=MODEL, prompt="x", stream=True)
        )
    assert result.choices[0].text == TEXT == streamed
    spans = sorted(p.genai(2), key=lambda s: s.start_ns)
    assert spans[0].name == f"text_completion {MODEL}"
    assert spans[0].attributes["gen_ai.usage.input_tokens"] == 3
    assert spans[0].attributes["gen_ai.response.finish_reasons"] == ("length",)
    assert TEXT in spans[1].attributes["gen_ai.output.messages"]


def test_content_share_is_decided_per_run(pipeline) -> None:
    from opentelemetry import context

    from botanu_instrumentation.genai._content import capture_content

    pipeline(content_capture_rate=0.5)
    decisions = []
    for _ in range(200):
        with botanu.event(event_id="e", customer_id="c", workflow="w"):
            first = capture_content()
            ctx = context.get_current()
            # The same run decides alike wherever its context goes.
            token = context.attach(ctx)
            assert capture_content() is first
            context.detach(token)
            decisions.append(first)
    assert 40 < sum(decisions) < 160
    assert capture_content() is False  # outside a run: never

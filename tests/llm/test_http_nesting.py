"""gen_ai spans with botanu's httpx2 instrumentor below: the HTTP span nested, context sent upstream."""

from __future__ import annotations

import pytest

import botanu

from ._fake_api import CLAUDE, MODEL

openai = pytest.importorskip("openai")
anthropic = pytest.importorskip("anthropic")

HI = [{"role": "user", "content": "hi"}]


def _http_spans(spans):
    return [
        s
        for s in spans
        if s.kind == "CLIENT"
        and "http.request.method" in s.attributes
        and s.scope != ("com.anthropic.sdk.python")
    ]


@pytest.mark.parametrize("vendor", ["openai", "anthropic-native", "anthropic-untraced"])
def test_http_span_nests_under_the_genai_span_and_names_it_upstream(api, pipeline, vendor) -> None:
    p = pipeline(instrumentations=["botanu_openai", "botanu_anthropic", "httpx2"])
    with botanu.event(event_id="e1", customer_id="cust-secret-7", workflow="chat") as run:
        if vendor == "openai":
            openai.OpenAI(api_key="sk-x", base_url=api.base_url, max_retries=0).chat.completions.create(
                model=MODEL, messages=HI
            )
        else:
            options = {"open_telemetry": False} if vendor == "anthropic-untraced" else {}
            client = anthropic.Anthropic(api_key="sk-x", base_url=api.anthropic_url, max_retries=0, **options)
            client.messages.create(model=CLAUDE, max_tokens=8, messages=HI)
    (genai,) = p.genai(1)
    spans = p.spans(3)
    http = _http_spans(spans)
    if vendor == "anthropic-native":
        # anthropic's own span already carries the HTTP attributes of its attempts (it sends its own
        # traceparent); botanu's httpx2 instrumentor treats the call as traced.
        assert len(http) <= 1
    else:
        assert len(http) == 1
    assert all(span.parent_span_id == genai.span_id for span in http)
    (run_span,) = [s for s in spans if s.name == "botanu.run/chat"]
    assert genai.parent_span_id == run_span.span_id
    # The vendor sees this trace, and the run id, but never the customer (not in propagate_to).
    seen = api.requests[-1].headers
    assert seen["traceparent"].split("-")[1] == genai.trace_id
    assert run.run_id in seen.get("baggage", "")
    assert "cust-secret-7" not in str(seen)

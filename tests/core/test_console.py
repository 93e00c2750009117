"""console=True prints each finished trace as a tree on stderr, alongside the OTLP export."""

from __future__ import annotations

import pytest

import botanu


def test_console_tree(botanu_init, otlp_receiver, capsys):
    botanu_init(console=True)
    with pytest.raises(ValueError):
        with botanu.event(event_id="T-1", customer_id="cus-1", workflow="Support") as run:
            with botanu.step("retrieval"):
                with botanu.step("rerank"):
                    pass
            with botanu.step("generation"):
                raise ValueError("model overloaded")
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    start = next(i for i, line in enumerate(lines) if line.startswith("trace "))
    tree = lines[start + 1 : start + 5]
    assert tree[0].startswith("botanu.run/Support ")
    assert f"run={run.run_id}" in tree[0]
    assert "outcome=failure" in tree[0] and "ERROR ValueError: model overloaded" in tree[0]
    assert tree[1].startswith("├─ botanu.step/retrieval ")
    assert tree[2].startswith("│  └─ botanu.step/rerank ")
    assert tree[3].startswith("└─ botanu.step/generation ") and "ERROR" in tree[3]
    # The console does not replace the export.
    assert botanu.force_flush(5)
    assert len(otlp_receiver.wait_for_spans(4)) == 4


def test_console_off_by_default(botanu_init, capsys):
    botanu_init()
    with botanu.event(event_id="T-1", customer_id="cus-1", workflow="Quiet"):
        pass
    botanu.force_flush(5)
    assert "botanu.run/Quiet" not in capsys.readouterr().err


def test_console_prints_the_redacted_span(botanu_init, capsys):
    from opentelemetry import trace

    botanu_init(console=True)
    with botanu.event(event_id="T-2", customer_id="cus-2", workflow="Leaky"):
        with trace.get_tracer("app").start_as_current_span("GET") as span:
            span.set_attribute("url.full", "https://api.example.com/v1?api_key=sk-live-0123456789abcdefghij")
    err = capsys.readouterr().err
    assert "url=https://api.example.com/v1?api_key=" in err
    assert "sk-live-0123456789abcdefghij" not in err
    assert "redacted=" in err

"""Bad input never stops the user's code: one warning per call site, or an exception in strict mode."""

from __future__ import annotations

import logging

import pytest

import botanu
from botanu._safety import set_strict


def warnings_from(caplog):
    return [r.getMessage() for r in caplog.records if r.name == "botanu" and r.levelno >= logging.WARNING]


def test_empty_workflow_warns_once_per_call_site(botanu_init, otlp_receiver, caplog):
    botanu_init()
    ran = []
    with caplog.at_level(logging.WARNING, logger="botanu"):
        for _ in range(3):
            with botanu.event(event_id="e", customer_id="c", workflow=""):
                ran.append(1)
        with botanu.event(event_id="e", customer_id="c", workflow="  "):  # another call site
            ran.append(2)
    assert ran == [1, 1, 1, 2]
    messages = [m for m in warnings_from(caplog) if "non-empty workflow" in m]
    assert len(messages) == 2
    assert all("test_misuse.py:" in m for m in messages)
    assert botanu.force_flush(5)
    assert [s.name for s in otlp_receiver.wait_for_spans(4)] == ["botanu.run/unknown"] * 4


def test_names_are_trimmed_and_long_ids_cut_without_a_warning(botanu_init, otlp_receiver, caplog):
    botanu_init()
    long_id = "e" * 300
    with caplog.at_level(logging.WARNING, logger="botanu"):
        with botanu.event(event_id=long_id, customer_id="c" * 257, workflow=" Support\t"):
            with botanu.step("\nretrieval "):
                pass
            with botanu.step(""):
                pass
    assert not [m for m in warnings_from(caplog) if "workflow" in m]
    assert [m for m in warnings_from(caplog) if "step() needs a non-empty name" in m]
    assert botanu.force_flush(5)
    spans = {s.name: s for s in otlp_receiver.wait_for_spans(3)}
    assert set(spans) == {"botanu.run/Support", "botanu.step/retrieval", "botanu.step/unnamed"}
    run = spans["botanu.run/Support"].attributes
    assert run["botanu.workflow"] == "Support" and run["botanu.event_id"] == "e" * 256
    assert run["botanu.customer_id"] == "c" * 256
    assert spans["botanu.step/retrieval"].attributes["botanu.step"] == "retrieval"


def test_callable_ids_in_context_manager_form(botanu_init, otlp_receiver, caplog):
    botanu_init()
    with caplog.at_level(logging.WARNING, logger="botanu"):
        with botanu.event(event_id=lambda: "x", customer_id="c", workflow="W") as run:
            assert run.event_id is None
    assert any("only works when event() decorates a function" in m for m in warnings_from(caplog))
    assert botanu.force_flush(5)
    assert "botanu.event_id" not in otlp_receiver.wait_for_spans(1)[0].attributes


def test_non_string_ids_are_converted_with_a_warning(botanu_init, otlp_receiver, caplog):
    botanu_init()
    with caplog.at_level(logging.WARNING, logger="botanu"):
        with botanu.event(event_id=12345, customer_id=object(), workflow="W") as run:
            pass
    assert run.event_id == "12345"
    assert run.customer_id is None
    text = " ".join(warnings_from(caplog))
    assert "event_id should be a string, got int" in text
    assert "customer_id must be a string, got object" in text


def test_id_callable_that_raises(botanu_init, otlp_receiver, caplog):
    botanu_init()

    @botanu.event(workflow="W", event_id=lambda order: order["missing"], customer_id="c")
    def handle(order):
        return "handled"

    with caplog.at_level(logging.WARNING, logger="botanu"):
        assert handle({}) == "handled"
    assert any("the event_id callable raised KeyError" in m for m in warnings_from(caplog))


def test_outcome_misuse_is_ignored(botanu_init, otlp_receiver, caplog):
    botanu_init()
    with caplog.at_level(logging.WARNING, logger="botanu"):
        botanu.outcome("success")  # outside a run
        with botanu.event(event_id="e", customer_id="c", workflow="W"):
            botanu.outcome("great")
            botanu.outcome("partial", confidence=7, value_amount="lots", metadata=["x"])
    text = " ".join(warnings_from(caplog))
    assert "outside a botanu.event() run" in text
    assert "must be one of" in text
    assert "confidence must be a number between 0 and 1" in text
    assert "value_amount must be a finite number" in text
    assert botanu.force_flush(5)
    attributes = otlp_receiver.wait_for_spans(1)[0].attributes
    assert attributes["botanu.outcome.status"] == "partial"
    assert "botanu.outcome.confidence" not in attributes


@pytest.mark.parametrize(
    "misuse",
    [
        lambda: botanu.event(event_id="e", customer_id="c", workflow=""),
        lambda: botanu.event(event_id="e", customer_id="c", workflow="W", span_kind="server"),
        lambda: botanu.step(""),
        lambda: botanu.outcome("great"),
        lambda: botanu.init(content_capture_rate=5),
        lambda: botanu.event(event_id="e", customer_id="c", workflow="W")(42),
    ],
)
def test_strict_mode_raises(clean_botanu, misuse):
    set_strict(True)
    with pytest.raises(botanu.BotanuUsageError):
        misuse()


def test_strict_mode_from_environment(clean_botanu, monkeypatch):
    monkeypatch.setenv("BOTANU_STRICT", "1")
    with pytest.raises(botanu.BotanuUsageError, match="non-empty workflow"):
        botanu.event(event_id="e", customer_id="c", workflow="")


def test_user_exceptions_pass_through_unchanged(botanu_init):
    botanu_init()

    class Mine(Exception):
        pass

    error = Mine("boom")
    with pytest.raises(Mine) as caught:
        with botanu.event(event_id="e", customer_id="c", workflow="W"):
            with botanu.step("s"):
                raise error
    assert caught.value is error

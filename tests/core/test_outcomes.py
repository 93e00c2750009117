"""How runs end: outcomes, exceptions, cancellation, interrupts."""

from __future__ import annotations

import asyncio

import pytest

import botanu


def spans_by_name(receiver, count):
    botanu.force_flush(5)
    spans = receiver.wait_for_spans(count)
    assert len(spans) == count
    return {s.name: s for s in spans}


def test_outcome_inside_step_lands_on_run_span_last_call_wins(botanu_init, otlp_receiver):
    botanu_init()
    with botanu.event(event_id="e", customer_id="c", workflow="Checkout"), botanu.step("pay"):
        botanu.outcome(
            "partial",
            reason="first",
            value_type="revenue",
            value_amount=10,
            confidence=0.2,
            metadata={"order": "o-1"},
        )
        botanu.emit_outcome("success", value_amount=42.5)
    spans = spans_by_name(otlp_receiver, 2)
    run = spans["botanu.run/Checkout"].attributes
    assert run["botanu.outcome.status"] == "success"
    assert run["botanu.outcome.value_amount"] == 42.5
    # The last call wins whole: fields it did not give are not kept from the first call.
    assert "botanu.outcome.reason" not in run
    assert "botanu.outcome.confidence" not in run
    assert "botanu.outcome.metadata.order" not in run
    assert "botanu.outcome.status" not in spans["botanu.step/pay"].attributes


def test_outcome_fields(botanu_init, otlp_receiver):
    botanu_init()
    with botanu.event(event_id="e", customer_id="c", workflow="Lead"):
        botanu.outcome(
            "partial",
            reason="2 of 3 items",
            value_type="items",
            value_amount=2,
            confidence=0.9,
            metadata={"sku": "A1", "count": 3},
        )
    attrs = spans_by_name(otlp_receiver, 1)["botanu.run/Lead"].attributes
    assert attrs["botanu.outcome.status"] == "partial"
    assert attrs["botanu.outcome.reason"] == "2 of 3 items"
    assert attrs["botanu.outcome.value_type"] == "items"
    assert attrs["botanu.outcome.value_amount"] == 2.0
    assert attrs["botanu.outcome.confidence"] == 0.9
    assert attrs["botanu.outcome.metadata.sku"] == "A1"
    assert attrs["botanu.outcome.metadata.count"] == 3


def test_exception_marks_failure_and_is_reraised(botanu_init, otlp_receiver):
    botanu_init()

    class PaymentDeclined(Exception):
        pass

    with pytest.raises(PaymentDeclined), botanu.event(event_id="e", customer_id="c", workflow="Pay"):
        raise PaymentDeclined("card declined")
    assert botanu.current_run() is None
    span = spans_by_name(otlp_receiver, 1)["botanu.run/Pay"]
    assert span.status_code == "ERROR"
    assert "card declined" in span.status_message
    assert span.attributes["botanu.outcome.status"] == "failure"
    assert span.attributes["botanu.outcome.reason"] == "PaymentDeclined"
    names = [name for name, _ in span.events]
    assert names == ["exception"]
    assert span.events[0][1]["exception.type"].endswith("PaymentDeclined")
    assert span.events[0][1]["exception.message"] == "card declined"


def test_explicit_non_success_outcome_survives_exception(botanu_init, otlp_receiver):
    botanu_init()
    with pytest.raises(TimeoutError), botanu.event(event_id="e", customer_id="c", workflow="Slow"):
        botanu.outcome("timeout", reason="supplier took 30 s")
        raise TimeoutError
    attrs = spans_by_name(otlp_receiver, 1)["botanu.run/Slow"].attributes
    assert attrs["botanu.outcome.status"] == "timeout"
    assert attrs["botanu.outcome.reason"] == "supplier took 30 s"


def test_explicit_success_is_overridden_by_exception(botanu_init, otlp_receiver):
    botanu_init()
    with pytest.raises(ValueError), botanu.event(event_id="e", customer_id="c", workflow="Oops"):
        botanu.outcome("success")
        raise ValueError("late failure")
    attrs = spans_by_name(otlp_receiver, 1)["botanu.run/Oops"].attributes
    assert attrs["botanu.outcome.status"] == "failure"


def test_auto_outcome_off(botanu_init, otlp_receiver):
    botanu_init()
    with botanu.event(event_id="e", customer_id="c", workflow="Manual", auto_outcome_on_success=False):
        pass
    assert "botanu.outcome.status" not in spans_by_name(otlp_receiver, 1)["botanu.run/Manual"].attributes


def test_cancelled_task_is_canceled(botanu_init, otlp_receiver):
    botanu_init()
    started = asyncio.Event()

    @botanu.event(workflow="Cancel", event_id="e", customer_id="c")
    async def slow():
        started.set()
        await asyncio.sleep(10)

    async def main():
        task = asyncio.create_task(slow())
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return botanu.current_run()

    assert asyncio.run(main()) is None
    span = spans_by_name(otlp_receiver, 1)["botanu.run/Cancel"]
    assert span.attributes["botanu.outcome.status"] == "canceled"
    assert span.status_code == "UNSET"


def test_keyboard_interrupt_and_system_exit(botanu_init, otlp_receiver):
    botanu_init()
    with pytest.raises(KeyboardInterrupt):
        with botanu.event(event_id="e", customer_id="c", workflow="Interrupted"):
            raise KeyboardInterrupt
    with pytest.raises(SystemExit), botanu.event(event_id="e", customer_id="c", workflow="Exit0"):
        raise SystemExit(0)
    with pytest.raises(SystemExit), botanu.event(event_id="e", customer_id="c", workflow="Exit3"):
        raise SystemExit(3)
    spans = spans_by_name(otlp_receiver, 3)
    interrupted = spans["botanu.run/Interrupted"]
    assert interrupted.attributes["botanu.outcome.status"] == "canceled"
    assert [n for n, _ in interrupted.events] == ["exception"]
    assert spans["botanu.run/Exit0"].attributes["botanu.outcome.status"] == "success"
    assert spans["botanu.run/Exit3"].attributes["botanu.outcome.status"] == "failure"
    assert spans["botanu.run/Exit3"].status_code == "ERROR"
    assert botanu.current_run() is None


def test_step_exception_recorded_on_step(botanu_init, otlp_receiver):
    botanu_init()
    with botanu.event(event_id="e", customer_id="c", workflow="Retry"):
        try:
            with botanu.step("flaky"):
                raise ConnectionError("upstream down")
        except ConnectionError:
            pass
    spans = spans_by_name(otlp_receiver, 2)
    assert spans["botanu.step/flaky"].status_code == "ERROR"
    # The run recovered: the exception did not escape it.
    assert spans["botanu.run/Retry"].status_code == "UNSET"
    assert spans["botanu.run/Retry"].attributes["botanu.outcome.status"] == "success"

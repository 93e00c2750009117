"""track() / identify() as spans on the wire: names, enduser.id, properties, timestamps, bad input."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

import pytest

import botanu
from botanu.analytics import identify, track

T0 = datetime(2025, 1, 2, 3, 4, 5, 678_000, tzinfo=timezone.utc)
T0_NS = 1_735_787_045_678_000_000


def exported_span(receiver, name):
    assert botanu.force_flush(5)
    return receiver.span(name)


def test_track_is_a_span_with_enduser_and_flattened_properties(botanu_init, otlp_receiver):
    botanu_init()
    track(
        "order_placed",
        "user_123",
        {"total_cents": 4900, "currency": "USD", "coupon": None, "cart": {"items": 2, "skus": ["a", "b"]}},
    )
    span = exported_span(otlp_receiver, "botanu.track/order_placed")
    assert span.kind == "INTERNAL"
    a = span.attributes
    assert a["enduser.id"] == "user_123"
    assert a["botanu.analytics.event"] == "order_placed"
    assert a["botanu.properties.total_cents"] == 4900
    assert a["botanu.properties.currency"] == "USD"
    assert a["botanu.properties.cart.items"] == 2
    assert a["botanu.properties.cart.skus"] == ("a", "b")
    assert "botanu.properties.coupon" not in a
    assert span.start_ns == span.end_ns  # a point in time


def test_identify_is_a_span_with_the_users_properties(botanu_init, otlp_receiver):
    botanu_init()
    identify("user_123", properties={"plan": "pro", "seats": 3})
    identify("user_456")
    botanu.force_flush(5)
    spans = [s for s in otlp_receiver.spans() if s.name == "botanu.identify"]
    assert [s.attributes["enduser.id"] for s in spans] == ["user_123", "user_456"]
    assert spans[0].attributes["botanu.properties.plan"] == "pro"
    assert spans[0].attributes["botanu.properties.seats"] == 3
    assert "botanu.analytics.event" not in spans[0].attributes


def test_inside_a_run_track_joins_its_trace_and_carries_its_identity(botanu_init, otlp_receiver):
    botanu_init()
    with botanu.event(event_id="e1", customer_id="cus_1", workflow="Signup") as run:
        track("signup_completed", "user_1")
    span = exported_span(otlp_receiver, "botanu.track/signup_completed")
    run_span = otlp_receiver.span("botanu.run/Signup")
    assert span.trace_id == run_span.trace_id and span.parent_span_id == run_span.span_id
    assert span.attributes["botanu.run_id"] == run.run_id
    assert span.attributes["botanu.customer_id"] == "cus_1"


@pytest.mark.parametrize(
    "timestamp",
    [
        T0,
        T0.replace(tzinfo=None),  # naive means UTC
        T0.astimezone(timezone(timedelta(hours=-5))),  # another zone, same instant
        "2025-01-02T03:04:05.678Z",
        "2025-01-02T03:04:05.678+00:00",
        "2025-01-02T04:04:05.678+01:00",
        T0_NS / 1e9,  # Unix seconds
    ],
)
def test_timestamps_are_honoured(botanu_init, otlp_receiver, timestamp):
    botanu_init()
    track("backfilled", "u", timestamp=timestamp)
    span = exported_span(otlp_receiver, "botanu.track/backfilled")
    assert abs(span.start_ns - T0_NS) < 1_000  # float seconds lose a few hundred ns
    assert span.end_ns == span.start_ns


@pytest.mark.parametrize("timestamp", ["yesterday", "2025-13-01T00:00:00Z", object(), -5.0, True])
def test_bad_timestamps_warn_and_use_now(botanu_init, otlp_receiver, caplog, timestamp):
    botanu_init()
    caplog.clear()
    before = datetime.now(timezone.utc).timestamp() * 1e9
    with caplog.at_level(logging.WARNING, logger="botanu"):
        track("when", "u", timestamp=timestamp)
    assert "track() timestamp" in caplog.text and "the current time is used" in caplog.text
    span = exported_span(otlp_receiver, "botanu.track/when")
    assert span.start_ns >= before - 1e6


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: track("", "u"), "event must be a non-empty string"),
        (lambda: track(None, "u"), "event must be a non-empty string"),
        (lambda: track("e", None), "needs a distinct_id"),
        (lambda: track("e", ""), "distinct_id must be a non-empty string"),
        (lambda: track("e", "u", properties=["x"]), "properties must be a mapping"),
        (lambda: identify(None), "needs a distinct_id"),
        (lambda: identify("u", properties="plan=pro"), "properties must be a mapping"),
    ],
)
def test_bad_input_warns_and_records_nothing(botanu_init, otlp_receiver, caplog, call, message):
    botanu_init()
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="botanu"):
        call()
    assert message in caplog.text
    assert "test_track_identify.py" in caplog.text  # the warning points at the user's line
    botanu.force_flush(5)
    assert otlp_receiver.spans() == []


def test_strict_mode_raises(botanu_init):
    botanu_init(strict=True)
    with pytest.raises(botanu.BotanuUsageError, match="needs a distinct_id"):
        track("e", None)
    with pytest.raises(botanu.BotanuUsageError, match="timestamp"):
        track("e", "u", timestamp="soon")


def test_numeric_distinct_ids_are_converted(botanu_init, otlp_receiver):
    botanu_init()
    track("e", 42)
    assert exported_span(otlp_receiver, "botanu.track/e").attributes["enduser.id"] == "42"


def test_secret_properties_are_redacted_on_export(botanu_init, otlp_receiver):
    redaction = pytest.importorskip("botanu.redaction")
    if not hasattr(redaction, "RedactingSpanProcessor"):
        pytest.skip("the redaction package is not complete in this tree yet")
    botanu_init()
    identify("u1", properties={"password": "hunter2-very-secret", "plan": "pro"})
    botanu.force_flush(5)
    assert not any(b"hunter2-very-secret" in body for body in otlp_receiver.raw_bodies())
    assert otlp_receiver.span("botanu.identify").attributes["botanu.properties.plan"] == "pro"


@pytest.mark.parametrize("stamp", [1_700_000_000_000, float("inf"), "9999-01-01T00:00:00"])
def test_out_of_range_timestamps_warn_and_the_event_is_still_recorded(
    botanu_init, otlp_receiver, stamp, caplog
):
    import logging

    botanu_init()
    with caplog.at_level(logging.WARNING, logger="botanu"):
        botanu.track("late", "user_1", timestamp=stamp)
    assert botanu.force_flush(5) is True
    assert [s.name for s in otlp_receiver.wait_for_spans(1)] == ["botanu.track/late"]
    assert botanu.stats()["dropped"] == {}
    assert any("timestamp" in r.getMessage() for r in caplog.records)

"""A request too large for the collector costs the one item that made it so, not its neighbours."""

from __future__ import annotations

from opentelemetry import trace

import botanu


def test_a_413_drops_only_the_oversized_span_and_delivers_its_300_neighbours(botanu_init, otlp_receiver):
    otlp_receiver.max_body = 1024 * 1024  # the collector refuses bodies over 1 MiB with 413
    botanu_init(compression="none", redaction=False)
    for index in range(300):
        with botanu.event(event_id=f"small-{index}", customer_id="c", workflow="Small"):
            pass
    with botanu.event(event_id="huge", customer_id="c", workflow="Huge"):
        trace.get_current_span().set_attribute("payload", "x" * (6 * 1024 * 1024))
    assert botanu.force_flush(10) is False  # one span was lost, and the flush says so
    stats = botanu.stats()
    assert stats["dropped"] == {"too_large": 1}, stats
    assert stats["balanced"]
    delivered = {s.attributes.get("botanu.event_id") for s in otlp_receiver.spans()}
    assert delivered == {f"small-{i}" for i in range(300)}
    assert any(r.reply.status == 413 for r in otlp_receiver.requests)  # the collector refused it


def test_max_request_bytes_splits_before_sending(botanu_init, otlp_receiver):
    botanu_init(compression="none", max_request_bytes="64KB")
    for index in range(400):
        with botanu.event(event_id=f"e-{index}-" + "p" * 200, customer_id="c", workflow="Split"):
            pass
    assert botanu.force_flush(10) is True
    assert len(otlp_receiver.spans()) == 400
    assert len(otlp_receiver.requests) > 1
    assert all(len(r.raw) <= 64 * 1024 for r in otlp_receiver.requests)
    assert not any(r.reply.status == 413 for r in otlp_receiver.requests)

"""Scopes that end out of order (interleaved generators, manual __enter__/__exit__) leave no ended
run or step attached: the README promises the context is always detached."""

from __future__ import annotations

from opentelemetry import trace

import botanu


def current_span_name() -> str | None:
    span = trace.get_current_span()
    return getattr(span, "name", None) if span.get_span_context().is_valid else None


def test_two_runs_exited_in_the_order_they_were_entered(botanu_init, otlp_receiver):
    botanu_init()
    first = botanu.event(event_id="a", customer_id="c", workflow="First")
    second = botanu.event(event_id="b", customer_id="c", workflow="Second")
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)  # out of order: Second is still current
    assert current_span_name() == "botanu.run/Second"
    second.__exit__(None, None, None)
    assert current_span_name() is None  # not the ended First
    assert botanu.current_run() is None
    botanu.force_flush(5)
    assert sorted(s.name for s in otlp_receiver.spans()) == ["botanu.run/First", "botanu.run/Second"]


def test_interleaved_generators_leave_nothing_attached(botanu_init, otlp_receiver):
    botanu_init()

    def job(name: str):
        with botanu.event(event_id=name, customer_id="c", workflow=name):
            yield
            yield

    one, two = job("One"), job("Two")
    next(one)
    next(two)
    next(one, None)
    next(one, None)  # One ends while Two is current
    next(two, None)
    next(two, None)
    assert current_span_name() is None
    with botanu.event(event_id="later", customer_id="c", workflow="Later"):
        pass
    botanu.force_flush(5)
    later = otlp_receiver.span("botanu.run/Later")
    assert later.parent_span_id == ""  # not a child of an ended run

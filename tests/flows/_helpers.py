"""Small helpers shared by the flow tests."""

from __future__ import annotations

import time
from collections.abc import Callable

import botanu
from tests.support.otlp_receiver import OTLPReceiver, ReceivedSpan


def exported(receiver: OTLPReceiver) -> list[ReceivedSpan]:
    """Flush botanu's pipeline and return every span the loopback collector received."""
    assert botanu.force_flush(5)
    return receiver.spans()


def named(spans: list[ReceivedSpan], name: str) -> list[ReceivedSpan]:
    return [span for span in spans if span.name == name]


def verdicts(spans: list[ReceivedSpan]) -> dict[str, ReceivedSpan]:
    """The ``botanu.flow.run`` spans by flow run id."""
    return {span.attributes["botanu.run_id"]: span for span in named(spans, "botanu.flow.run")}


def node_events(verdict: ReceivedSpan) -> dict[str, dict]:
    """A verdict span's per-node events, by node id."""
    return {attrs["botanu.node.id"]: attrs for name, attrs in verdict.events if name == "botanu.flow.node"}


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Poll ``predicate`` (work done on botanu's timer thread) instead of sleeping a fixed time."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def exported_span(receiver: OTLPReceiver, name: str) -> ReceivedSpan:
    """Flush, then the one received span called ``name``."""
    exported(receiver)
    return receiver.span(name)

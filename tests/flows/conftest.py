"""Flow tests start with no declared flows and no remembered runs, and share one loopback collector."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from botanu import flows
from tests.support.otlp_receiver import OTLPReceiver


@pytest.fixture(scope="module")
def shared_receiver() -> Iterator[OTLPReceiver]:
    # Closing a receiver takes ~0.5 s (its server's poll interval): share one per module.
    receiver = OTLPReceiver()
    try:
        yield receiver
    finally:
        receiver.close()


@pytest.fixture
def otlp_receiver(shared_receiver: OTLPReceiver) -> OTLPReceiver:
    """The shared collector, emptied (the previous test's pipeline was shut down and flushed)."""
    shared_receiver.clear()
    return shared_receiver


@pytest.fixture(autouse=True)
def clean_flows() -> Iterator[None]:
    flows._reset_for_tests()
    yield
    flows._reset_for_tests()

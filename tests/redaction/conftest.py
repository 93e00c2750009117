"""Fixtures for the redaction tests: a loopback OTLP receiver and clean global state."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from botanu import _safety
from botanu.redaction import reset_redaction_stats
from tests.support.otlp_receiver import OTLPReceiver


@pytest.fixture
def receiver() -> Iterator[OTLPReceiver]:
    """A real OTLP/HTTP receiver on 127.0.0.1 (closed after the test)."""
    server = OTLPReceiver()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(autouse=True)
def _clean_state() -> Iterator[None]:
    """Each test starts with zeroed redaction counters, no remembered warnings, strict mode off."""
    reset_redaction_stats()
    _safety.reset_warnings()
    _safety.set_strict(False)
    try:
        yield
    finally:
        _safety.set_strict(None)
        _safety.reset_warnings()

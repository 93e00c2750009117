"""Shared fixtures: a loopback OTLP receiver and a botanu pipeline pointed at it."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from opentelemetry import trace

from tests.support.otlp_receiver import OTLPReceiver

# Tests must never reach outside hosts or pick up the developer's settings.
for _name in list(os.environ):
    if _name.startswith(("BOTANU_", "OTEL_")):
        del os.environ[_name]


def reset_otel_globals() -> None:
    """Let a test install a fresh global TracerProvider (the API allows only one per process)."""
    from opentelemetry._logs import _internal as logs_internal
    from opentelemetry.util._once import Once

    trace._TRACER_PROVIDER_SET_ONCE = Once()  # type: ignore[attr-defined]
    trace._TRACER_PROVIDER = None  # type: ignore[attr-defined]
    logs_internal._LOGGER_PROVIDER_SET_ONCE = Once()  # type: ignore[attr-defined]
    logs_internal._LOGGER_PROVIDER = None  # type: ignore[attr-defined]


def reset_botanu() -> None:
    from botanu import _pipeline, _safety, _stats
    from botanu.context import _run

    _pipeline.shutdown(timeout=2)
    _pipeline._reset_for_tests()
    _run.configure(None, 0.0)
    _safety.set_strict(None)
    _safety.reset_warnings()
    _stats.reset()
    reset_otel_globals()


@pytest.fixture(autouse=True)
def _private_spool(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test spools into its own directory, never the user's cache.

    A shared directory is not safe: a dead port in one test can be a later test's
    receiver port, and the earlier test's spooled spans would replay into it.
    """
    root = tmp_path_factory.mktemp("spool")
    monkeypatch.setenv("BOTANU_SPOOL_DIR", str(root / "spool"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(root / "cache"))


@pytest.fixture
def otlp_receiver() -> Iterator[OTLPReceiver]:
    receiver = OTLPReceiver()
    try:
        yield receiver
    finally:
        receiver.close()


@pytest.fixture
def clean_botanu() -> Iterator[None]:
    """Reset botanu and the OTel globals before and after the test."""
    reset_botanu()
    try:
        yield
    finally:
        reset_botanu()


@pytest.fixture
def botanu_init(otlp_receiver: OTLPReceiver, clean_botanu: None) -> Callable[..., Any]:
    """Call ``botanu_init(**settings)`` to start botanu exporting to the loopback receiver."""
    import botanu

    def start(**settings: Any) -> Any:
        settings.setdefault("endpoint", otlp_receiver.endpoint)
        settings.setdefault("instrumentations", False)
        return botanu.init(**settings)

    return start

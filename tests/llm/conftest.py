"""Fixtures for the LLM client tests: the fake vendor API and botanu's pipeline with the LLM instrumentors."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.otlp_receiver import OTLPReceiver, ReceivedSpan

_INSTRUMENTORS = Path(__file__).resolve().parents[2] / "instrumentors"
if str(_INSTRUMENTORS) not in sys.path:
    sys.path.insert(0, str(_INSTRUMENTORS))

from ._fake_api import FakeLLMAPI  # noqa: E402

# Credentials the clients send: none of these bytes may ever be exported.
OPENAI_KEY = "sk-test-0penai-KEY-never-exported-1234567890"
ANTHROPIC_KEY = "sk-ant-test-KEY-never-exported-0987654321"


@pytest.fixture
def api() -> Iterator[FakeLLMAPI]:
    fake = FakeLLMAPI()
    try:
        yield fake
    finally:
        fake.close()


class Pipeline:
    """botanu exporting to the loopback receiver, with the openai/anthropic instrumentors on."""

    def __init__(self, receiver: OTLPReceiver) -> None:
        self.receiver = receiver

    def spans(self, count: int) -> list[ReceivedSpan]:
        """The exported spans once at least ``count`` arrived (flushes first)."""
        import botanu

        botanu.force_flush()
        self.receiver.wait_for(lambda r: len(r.spans()) >= count, timeout=10)
        return self.receiver.spans()

    def genai(self, count: int) -> list[ReceivedSpan]:
        """Exactly ``count`` gen_ai spans (any instrumentation), after a flush."""
        import botanu

        botanu.force_flush()
        self.receiver.wait_for(lambda r: len(_genai(r.spans())) >= count, timeout=10)
        botanu.force_flush()
        found = _genai(self.receiver.spans())
        assert len(found) == count, [(s.name, s.scope) for s in found]
        return found

    def leaked(self, *secrets: str) -> list[str]:
        bodies = b"".join(self.receiver.raw_bodies())
        return [secret for secret in secrets if secret.encode() in bodies]


def _genai(spans: list[ReceivedSpan]) -> list[ReceivedSpan]:
    return [s for s in spans if "gen_ai.operation.name" in s.attributes]


@pytest.fixture
def pipeline(botanu_init: Callable[..., Any], otlp_receiver: OTLPReceiver) -> Callable[..., Pipeline]:
    def start(**settings: Any) -> Pipeline:
        settings.setdefault("instrumentations", ["botanu_openai", "botanu_anthropic"])
        botanu_init(**settings)
        return Pipeline(otlp_receiver)

    return start

"""``AnthropicInstrumentor``: gen_ai spans for the ``anthropic`` client when it makes none itself."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from opentelemetry import trace
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor

from ..genai._install import botanu_version, install, remove
from ._adapter import AnthropicAdapter
from ._native import NativeSpans


class AnthropicInstrumentor(BaseInstrumentor):
    """One CLIENT span per ``messages.create`` / ``messages.stream`` call, sync and async.

    anthropic 2.x traces its own calls (scope ``com.anthropic.sdk.python``) whenever a tracer
    provider exists; for such a client this instrumentor adds nothing, so a call never has two
    gen_ai spans. It covers clients whose tracing is off (``open_telemetry=False``,
    ``ANTHROPIC_OPEN_TELEMETRY=false``) and SDKs older than 2.x. The SDK's own spans are completed
    instead: ``gen_ai.usage.cache_creation.input_tokens``, ``gen_ai.response.finish_reasons``,
    and, when the run records content, the prompt and the reply.
    """

    _adapter: AnthropicAdapter | None = None
    _installed: list[tuple[Any, Any]] | None = None
    _native: NativeSpans | None = None

    def instrumentation_dependencies(self) -> Collection[str]:
        return ("anthropic >= 0.30",)

    def _instrument(self, **kwargs: Any) -> None:
        tracer = trace.get_tracer(
            "botanu_instrumentation.anthropic",
            botanu_version(),
            tracer_provider=kwargs.get("tracer_provider"),
        )
        adapter = AnthropicAdapter(tracer)
        self._adapter, self._installed = adapter, install("anthropic._base_client", adapter)
        # The SDK's own spans: the current semconv names, and the run's content when it records it.
        self._native = NativeSpans()
        self._native.install()

    def _uninstrument(self, **kwargs: Any) -> None:
        if self._adapter is not None:
            self._adapter.enabled = False
        remove(self._installed or [])
        if self._native is not None:
            self._native.remove()
        self._adapter = self._installed = self._native = None

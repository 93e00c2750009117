"""``OpenAIInstrumentor``: gen_ai spans for the ``openai`` client."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from opentelemetry import trace
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor

from ..genai._install import botanu_version, install, remove, stream_usage_setting
from ._adapter import OpenAIAdapter


class OpenAIInstrumentor(BaseInstrumentor):
    """One CLIENT span per openai API call: chat completions (create, parse, stream), the
    Responses API (create, parse, stream), embeddings and legacy completions, sync and async,
    including ``with_raw_response`` and ``with_streaming_response``.

    ``instrument()`` accepts ``tracer_provider`` and ``stream_usage`` (ask streamed chat
    completions for their token usage; default: botanu's ``llm_stream_usage`` setting,
    ``BOTANU_LLM_STREAM_USAGE``).
    """

    _adapter: OpenAIAdapter | None = None
    _installed: list[tuple[Any, Any]] | None = None

    def instrumentation_dependencies(self) -> Collection[str]:
        return ("openai >= 1.0",)

    def _instrument(self, **kwargs: Any) -> None:
        tracer = trace.get_tracer(
            "botanu_instrumentation.openai", botanu_version(), tracer_provider=kwargs.get("tracer_provider")
        )
        adapter = OpenAIAdapter(tracer, stream_usage_setting(kwargs.get("stream_usage")))
        self._adapter, self._installed = adapter, install("openai._base_client", adapter)

    def _uninstrument(self, **kwargs: Any) -> None:
        if self._adapter is not None:
            self._adapter.enabled = False
        remove(self._installed or [])
        self._adapter = self._installed = None

"""OpenTelemetry gen_ai spans for the ``anthropic`` client.

anthropic 2.x emits its own gen_ai span per call when a tracer provider exists; botanu then
adds none and completes the SDK's span instead (current semconv names for the cache write and
the stop reason; the run's content when it records content). For clients with the SDK's tracing
off, and for older SDKs, this instrumentor covers ``messages.create`` and ``messages.stream``.

``botanu.init()`` and ``opentelemetry-instrument`` load it through the ``botanu_anthropic``
entry point. Without anthropic installed it is inert.
"""

from ._instrumentor import AnthropicInstrumentor

__all__ = ["AnthropicInstrumentor"]

"""OpenTelemetry gen_ai spans for the ``openai`` client (1.x to 3.x).

Usage::

    from botanu_instrumentation.openai import OpenAIInstrumentor

    OpenAIInstrumentor().instrument()

``botanu.init()`` and ``opentelemetry-instrument`` load it through the ``botanu_openai``
entry point. Importing this package does not import openai; without openai it is inert.
"""

from ._instrumentor import OpenAIInstrumentor

__all__ = ["OpenAIInstrumentor"]

"""OpenTelemetry instrumentation for the ``httpx2`` HTTP client (sync and async).

``httpx2`` is the fork of ``httpx`` that openai 3.x and anthropic 2.x are built on.
Each request an ``httpx2.Client`` or ``httpx2.AsyncClient`` sends (every redirect
hop included) becomes one ``CLIENT`` span with the stable HTTP semantic
conventions, and W3C trace context and baggage are sent with it through the
global propagator, so botanu's baggage rules decide which entries leave. Nothing
below it (another HTTP instrumentation of the transport, ``http.client``) adds a
second span.

Usage::

    from botanu_instrumentation.httpx2 import HTTPX2Instrumentor

    HTTPX2Instrumentor().instrument()

``opentelemetry-instrument`` and ``botanu.init()`` load it through the ``httpx2``
entry point. Without ``httpx2`` installed it does nothing.
"""

from ._instrumentor import HTTPX2Instrumentor

__all__ = ["HTTPX2Instrumentor"]

"""OpenTelemetry instrumentation for the standard library's ``http.client``.

Libraries that talk HTTP through ``http.client`` directly get one ``CLIENT`` span
per request, with W3C trace context and baggage sent to the server. When a
higher-level client instrumentation (requests, urllib3, urllib) already traces the
call, this one stays out of the way, so each logical call yields exactly one span.

Usage::

    from botanu_instrumentation.http_client import HTTPClientInstrumentor

    HTTPClientInstrumentor().instrument()

``opentelemetry-instrument`` loads it through the ``botanu_http_client`` entry point.
"""

from ._instrumentor import HTTPClientInstrumentor

__all__ = ["HTTPClientInstrumentor"]

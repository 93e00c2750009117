"""botanu's own OpenTelemetry instrumentors.

Each instrumentor lives in its own subpackage, is an ordinary
:class:`~opentelemetry.instrumentation.instrumentor.BaseInstrumentor`, and is
registered as an ``opentelemetry_instrumentor`` entry point so that
``opentelemetry-instrument`` loads it with no code changes:

* :mod:`botanu_instrumentation.http_client` -- the stdlib ``http.client``.
* :mod:`botanu_instrumentation.httpx2` -- the ``httpx2`` client (openai 3.x, anthropic 2.x).
"""

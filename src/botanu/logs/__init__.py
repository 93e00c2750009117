"""Logs: stdlib ``logging`` and :class:`Logger` records as OpenTelemetry log records.

``botanu.init()`` (and ``botanu run`` / ``opentelemetry-instrument`` with no code) puts one
handler on the root logger. Each record it exports carries the active span's trace and
span ids, the run's ``botanu.*`` attributes, the service's resource, severity per the OTel
data model, ``extra`` fields as attributes, the exception (``exception.type``, ``.message``,
``.stacktrace``) and ``botanu.error.fingerprint``; it is redacted like spans and delivered
to ``/v1/logs`` with the spans' guarantees (queue, retries, spool, stats).
"""

from botanu.logs._adapters import loguru_sink, structlog_processor
from botanu.logs._fingerprint import FINGERPRINT, fingerprint_exception, normalise_message
from botanu.logs._handler import BotanuLoggingHandler
from botanu.logs._logger import Logger

__all__ = [
    "FINGERPRINT",
    "BotanuLoggingHandler",
    "Logger",
    "fingerprint_exception",
    "loguru_sink",
    "normalise_message",
    "structlog_processor",
]

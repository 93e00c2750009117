"""Set up the log signal beside the spans: LoggerProvider, processor, delivery, root handler.

Called by botanu's pipeline (``botanu.init()`` and the configurator alike), with the
same settings and the spans' resource, so records and spans describe one service.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from opentelemetry import _logs
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk.resources import Resource

from botanu._config import Settings
from botanu.export import DeliveryProcessor
from botanu.export._factory import build_log_delivery
from botanu.logs import _handler
from botanu.logs._processor import BotanuLogProcessor

logger = logging.getLogger("botanu")


@dataclass
class LogPipeline:
    """What botanu set up for logs, to flush and take down at shutdown."""

    provider: LoggerProvider
    processor: BotanuLogProcessor
    delivery: DeliveryProcessor
    handler: _handler.BotanuLoggingHandler
    owns_provider: bool


def _redactor(settings: Settings) -> Any:
    if not settings.redaction:
        logger.warning(
            "botanu: redaction is OFF (BOTANU_REDACTION=0): secrets in log records will be exported"
        )
        return None
    from botanu.redaction import Redactor

    return Redactor.from_settings(settings)


def build(
    settings: Settings, resource: Resource, console: Any = None, queue: dict[str, Any] | None = None
) -> LogPipeline:
    """Create the log pipeline for ``settings`` and install it (provider, root handler).

    ``queue`` may size the record queue: ``batch_size``, ``flush_interval`` (s), ``max_buffer``.
    """
    delivery = build_log_delivery(settings, redactor=_redactor(settings), queue=queue)
    if console is not None:
        exporter = delivery.exporter
        console.redact_record = lambda record: exporter.prepare([record])[0]  # type: ignore[attr-defined]
    processor = BotanuLogProcessor(delivery, console)
    provider, owns = _provider_for(resource)
    provider.add_log_record_processor(processor)
    handler = _handler.install(_handler.BotanuLoggingHandler(provider, settings.log_level))
    return LogPipeline(provider, processor, delivery, handler, owns)


def _provider_for(resource: Resource) -> tuple[LoggerProvider, bool]:
    current = _logs.get_logger_provider()
    if isinstance(current, LoggerProvider):
        _warn_about_other_exporters(current)
        return current, False
    provider = LoggerProvider(resource=resource, shutdown_on_exit=False)
    _logs.set_logger_provider(provider)
    if _logs.get_logger_provider() is provider:
        return provider, True
    # The global was set by someone else (not an SDK provider): botanu's records still go to its own.
    logger.info("botanu: the global LoggerProvider is not the SDK's; botanu's log handler uses its own")
    return provider, True


def _warn_about_other_exporters(provider: LoggerProvider) -> None:
    multi = getattr(provider, "_multi_log_record_processor", None)
    exporting = [
        type(p).__name__
        for p in getattr(multi, "_log_record_processors", ())
        if hasattr(p, "_exporter") or hasattr(getattr(p, "_batch_processor", None), "_exporter")
    ]
    if exporting:
        logger.warning(
            "botanu: the LoggerProvider already exports log records through %s; botanu adds its own "
            "delivery, so records are exported twice and that copy is NOT redacted",
            ", ".join(exporting),
        )


def take_down(pipeline: LogPipeline) -> None:
    """Remove the root handler (first, so nothing is logged into a closed pipeline)."""
    _handler.uninstall()
    pipeline.processor._shut = True

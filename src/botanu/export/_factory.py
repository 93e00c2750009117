"""Assemble the delivery path for a :class:`~botanu.Settings`: exporter, spool, replayer, processor."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace.export import SpanExporter

from botanu import _stats
from botanu._config import Settings
from botanu.export._delivery import DeliveryProcessor, env_int
from botanu.export._otlp_http import OTLPHttpSpanExporter
from botanu.export._replay import Replayer
from botanu.export._retry import RetryPolicy
from botanu.export._spool import Spool, default_spool_root, endpoint_key

# Module-level so that tests (and benchmarks) can shorten every wait in one place.
DEFAULT_RETRY = RetryPolicy()


def spool_directory(settings: Settings, endpoint: str | None = None) -> Path:
    """Where ``settings`` spool: ``<spool_dir or the user cache>/<collector and credentials key>``.

    ``endpoint`` is the URL the spooled requests go to (default: the traces endpoint).
    """
    root = Path(settings.spool_dir).expanduser() if settings.spool_dir else default_spool_root()
    return root / endpoint_key(endpoint or settings.endpoint, settings.headers, settings.api_key)


def _exporter_arguments(settings: Settings) -> dict[str, Any]:
    return {
        "headers": settings.headers,
        "api_key": settings.api_key,
        "compression": settings.compression,
        "timeout": settings.export_timeout,
        "retry_window": settings.export_retry_window,  # None: DEFAULT_RETRY's window
        "retry": DEFAULT_RETRY,
        "max_request_bytes": settings.max_request_bytes,
    }


def build_exporter(settings: Settings, *, spool: Spool | None = None) -> OTLPHttpSpanExporter:
    """The OTLP/HTTP exporter for ``settings``."""
    return OTLPHttpSpanExporter(settings.endpoint, spool=spool, **_exporter_arguments(settings))


def _spool_for(settings: Settings, endpoint: str, signal: str) -> Spool | None:
    if not settings.spool:
        return None
    return Spool(
        spool_directory(settings, endpoint),
        max_bytes=settings.spool_max_bytes,
        max_age=settings.spool_max_age,
        signal=signal,
    )


def _start_replay(spool: Spool | None, exporter: OTLPHttpSpanExporter) -> Replayer | None:
    if spool is None:
        return None
    replayer = Replayer(spool, exporter)
    exporter.after_delivery = replayer.kick
    replayer.start()  # looks at the spool on its own thread; init() does not wait
    return replayer


def build_delivery(settings: Settings, exporter: SpanExporter | None = None) -> DeliveryProcessor:
    """The delivery processor for ``settings``; replay of an existing spool starts in the background.

    ``exporter`` replaces the OTLP/HTTP exporter (benchmarks use a null one); a
    custom exporter gets no spool.
    """
    replayer = None
    if exporter is None:
        spool = _spool_for(settings, settings.endpoint, "traces")
        exporter = built = build_exporter(settings, spool=spool)
        replayer = _start_replay(spool, built)
    return DeliveryProcessor(exporter, exit_timeout=settings.shutdown_timeout, replayer=replayer)


def build_log_delivery(
    settings: Settings,
    exporter: OTLPHttpSpanExporter | None = None,
    redactor: Any = None,
    queue: dict[str, Any] | None = None,
) -> DeliveryProcessor:
    """The log records' delivery processor: the spans' machinery, its own queue, spool and books.

    Batching follows ``queue`` (``batch_size``, ``flush_interval`` in seconds, ``max_buffer``),
    else the ``OTEL_BLRP_*`` variables (queue 2048, delay 1 s, batch 512); ``redactor`` is
    applied by the exporter just before encoding.
    """
    queue = queue or {}
    from botanu.logs._export import OTLPHttpLogExporter

    replayer = None
    if exporter is None:
        endpoint = settings.logs_url()
        spool = _spool_for(settings, endpoint, "logs")
        exporter = OTLPHttpLogExporter(
            endpoint, redactor=redactor, spool=spool, **_exporter_arguments(settings)
        )
        replayer = _start_replay(spool, exporter)
    return DeliveryProcessor(
        exporter,
        max_queue_size=_positive(queue.get("max_buffer")) or env_int("OTEL_BLRP_MAX_QUEUE_SIZE", 2048),
        schedule_delay_millis=_positive(queue.get("flush_interval"), 1000.0)
        or env_int("OTEL_BLRP_SCHEDULE_DELAY", 1000),
        max_export_batch_size=_positive(queue.get("batch_size"))
        or env_int("OTEL_BLRP_MAX_EXPORT_BATCH_SIZE", 512),
        exit_timeout=settings.shutdown_timeout,
        replayer=replayer,
        ledger=_stats.logs,
        thread_name="botanu-export-logs",
    )


def _positive(value: Any, scale: float = 1.0) -> int | None:
    """A positive whole number from a queue setting (``scale`` turns seconds into ms), else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        return None
    return max(1, int(value * scale))

"""Assemble the delivery path for a :class:`~botanu.Settings`: exporter, spool, replayer, processor."""

from __future__ import annotations

from pathlib import Path

from opentelemetry.sdk.trace.export import SpanExporter

from botanu._config import Settings
from botanu.export._delivery import DeliveryProcessor
from botanu.export._otlp_http import OTLPHttpSpanExporter
from botanu.export._replay import Replayer
from botanu.export._retry import RetryPolicy
from botanu.export._spool import Spool, default_spool_root, endpoint_key

# Module-level so that tests (and benchmarks) can shorten every wait in one place.
DEFAULT_RETRY = RetryPolicy()


def spool_directory(settings: Settings) -> Path:
    """Where ``settings`` spool: ``<spool_dir or the user cache>/<collector and credentials key>``."""
    root = Path(settings.spool_dir).expanduser() if settings.spool_dir else default_spool_root()
    return root / endpoint_key(settings.endpoint, settings.headers, settings.api_key)


def build_exporter(settings: Settings, *, spool: Spool | None = None) -> OTLPHttpSpanExporter:
    """The OTLP/HTTP exporter for ``settings``."""
    return OTLPHttpSpanExporter(
        settings.endpoint,
        headers=settings.headers,
        api_key=settings.api_key,
        compression=settings.compression,
        timeout=settings.export_timeout,
        retry_window=settings.export_retry_window,  # None: DEFAULT_RETRY's window
        retry=DEFAULT_RETRY,
        spool=spool,
    )


def build_delivery(settings: Settings, exporter: SpanExporter | None = None) -> DeliveryProcessor:
    """The delivery processor for ``settings``; replay of an existing spool starts in the background.

    ``exporter`` replaces the OTLP/HTTP exporter (benchmarks use a null one); a
    custom exporter gets no spool.
    """
    replayer = None
    if exporter is None:
        spool = None
        if settings.spool:
            spool = Spool(
                spool_directory(settings), max_bytes=settings.spool_max_bytes, max_age=settings.spool_max_age
            )
        exporter = build_exporter(settings, spool=spool)
        if spool is not None:
            replayer = Replayer(spool, exporter)
            exporter.after_delivery = replayer.kick
            replayer.start()  # looks at the spool on its own thread; init() does not wait
    return DeliveryProcessor(exporter, exit_timeout=settings.shutdown_timeout, replayer=replayer)

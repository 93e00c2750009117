"""botanu: an OpenTelemetry distribution that makes business behaviour observable and safe to export.

Quick start::

    import botanu

    botanu.init(service_name="support-bot")

    with botanu.event(event_id=ticket.id, customer_id=user.id, workflow="Support"):
        with botanu.step("retrieval"):
            docs = search(ticket)
        with botanu.step("generation"):
            answer = llm(docs)
        botanu.outcome("success", value_type="ticket_resolved", value_amount=1)

Runs, steps and outcomes become ordinary OpenTelemetry spans; run identity
travels as W3C baggage; secrets are redacted before export; spans go through a
BatchSpanProcessor to an OTLP/HTTP collector.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from opentelemetry.trace import SpanKind

from botanu import _pipeline
from botanu._config import Settings
from botanu._safety import BotanuUsageError
from botanu._version import __version__
from botanu.analytics import Analytics, identify, track
from botanu.context._run import (
    OUTCOME_STATUSES,
    Event,
    RunContext,
    Step,
    current_run,
    emit_outcome,
    event,
    outcome,
    step,
)
from botanu.context._session import Session, current_session, session
from botanu.flows import Flow, FlowNode, act, assert_, define_flow, load_flows
from botanu.llm import LLMCall, llm_call
from botanu.logs import Logger

__all__ = [
    "OUTCOME_STATUSES",
    "Analytics",
    "BotanuUsageError",
    "Event",
    "Flow",
    "FlowNode",
    "LLMCall",
    "Logger",
    "RunContext",
    "Session",
    "Settings",
    "SpanKind",
    "Step",
    "__version__",
    "act",
    "assert_",
    "current_run",
    "current_session",
    "define_flow",
    "emit_outcome",
    "event",
    "force_flush",
    "identify",
    "init",
    "llm_call",
    "load_flows",
    "outcome",
    "session",
    "shutdown",
    "stats",
    "step",
    "track",
]


def init(
    *,
    service_name: str | None = None,
    service_version: str | None = None,
    environment: str | None = None,
    endpoint: str | None = None,
    headers: Mapping[str, str] | str | None = None,
    api_key: str | None = None,
    console: bool | None = None,
    content_capture_rate: float | None = None,
    compression: str | None = None,
    export_timeout: float | None = None,
    export_retry_window: float | None = None,
    shutdown_timeout: float | None = None,
    instrumentations: list[str] | bool | None = None,
    disabled_instrumentations: list[str] | None = None,
    strict: bool | None = None,
    redaction: bool | None = None,
    redaction_mode: str | None = None,
    redact_keys: list[str] | None = None,
    redact_patterns: list[str] | None = None,
    redact_allow_keys: list[str] | None = None,
    redact_pii: bool | None = None,
    redaction_hash_key: str | None = None,
    redaction_callback: Callable[..., Any] | None = None,
    propagate_to: list[str] | None = None,
    trust_inbound_baggage: bool | None = None,
    trace_response_headers: list[str] | str | None = None,
    spool: bool | None = None,
    spool_dir: str | None = None,
    spool_max_bytes: int | str | None = None,
    spool_max_age: float | None = None,
    logs: bool | None = None,
    log_level: int | str | None = None,
    logs_endpoint: str | None = None,
    handle_signals: bool | None = None,
    max_request_bytes: int | str | None = None,
    llm_prices: str | Mapping[str, Any] | None = None,
    llm_stream_usage: bool | None = None,
) -> Settings:
    """Set up botanu's pipeline once per process and return the resolved settings.

    Every argument is optional. Precedence, the same for every setting: explicit
    argument > ``BOTANU_*`` environment variable > standard ``OTEL_*`` variable >
    default. A value that cannot be used is reported in one line naming the
    setting and its source, and the default is used (``strict`` raises instead).

    Args:
        service_name: ``service.name`` (``BOTANU_SERVICE_NAME``, ``OTEL_SERVICE_NAME``).
        service_version: ``service.version`` (``BOTANU_SERVICE_VERSION``).
        environment: ``deployment.environment.name`` and the runs' default
            environment (``BOTANU_ENVIRONMENT``, ``OTEL_DEPLOYMENT_ENVIRONMENT``).
        endpoint: Full OTLP/HTTP traces URL (``BOTANU_ENDPOINT``,
            ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``, ``OTEL_EXPORTER_OTLP_ENDPOINT`` +
            ``/v1/traces``; default ``http://localhost:4318/v1/traces``).
        headers: Extra export headers, a mapping or ``k=v,k2=v2``
            (``BOTANU_HEADERS``, ``OTEL_EXPORTER_OTLP_(TRACES_)HEADERS``).
        api_key: Sent as ``Authorization: Bearer`` to the endpoint only (``BOTANU_API_KEY``).
        console: Print each finished trace as a tree on stderr (``BOTANU_CONSOLE``).
        content_capture_rate: Share of runs (0..1) whose decorated function
            arguments are captured (``BOTANU_CONTENT_CAPTURE_RATE``; default 0).
        compression: ``gzip`` (default) or ``none``.
        export_timeout: Seconds per export request (``OTEL_EXPORTER_OTLP_TIMEOUT``, read in
            seconds as the Python SDK reads it).
        export_retry_window: Seconds one batch is retried before it is spooled
            (``BOTANU_EXPORT_RETRY_WINDOW``; default 15).
        shutdown_timeout: Upper bound in seconds for flush at exit (default 5).
        instrumentations: Which HTTP-client/threading instrumentations to enable
            (names, or False for none; default all that are installed).
        disabled_instrumentations: Names to skip (``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS``).
        strict: Raise :class:`BotanuUsageError` on misuse instead of warning (``BOTANU_STRICT``).
        redaction: Turn redaction off with False (on by default; not recommended).
        redaction_mode: ``mask`` (default), ``remove`` or ``hash``.
        redact_keys: Extra attribute key names whose values are always redacted.
        redact_patterns: Extra regular expressions whose matches are redacted.
        redact_allow_keys: Attribute keys never touched by redaction.
        redact_pii: Also redact emails, phone numbers and IP addresses.
        redaction_hash_key: Key for ``hash`` mode (random per process by default).
        redaction_callback: ``callback(key, original, redacted) -> value``, the final say.
        propagate_to: Host patterns (``api.mycorp.com``, ``*.internal``) that may receive
            botanu's business identity in the outgoing ``baggage`` header
            (``BOTANU_PROPAGATE_TO``); elsewhere it is stripped.
        trust_inbound_baggage: Honour botanu baggage arriving from callers
            (``BOTANU_TRUST_INBOUND_BAGGAGE``; off by default, for edge services).
        trace_response_headers: Response headers that give callers the request's trace id
            (``BOTANU_TRACE_RESPONSE_HEADERS``; default ``traceresponse, X-Trace-ID``; empty: none).
        spool: Keep batches the collector could not take on disk and replay them (on by default).
        spool_dir: Where (``BOTANU_SPOOL_DIR``; default: the user's cache directory).
        spool_max_bytes: Size cap of the spool (``BOTANU_SPOOL_MAX_BYTES``; default 64 MiB).
        spool_max_age: Seconds after which spooled batches are dropped (default one day).
        logs: Export stdlib ``logging`` records (and :class:`Logger`'s) as OTel log records
            through a handler on the root logger (``BOTANU_LOGS``; ``OTEL_LOGS_EXPORTER=none``
            turns it off; on by default).
        log_level: The lowest level exported (``BOTANU_LOG_LEVEL``; default ``INFO``). Logger
            levels are the app's: root's default WARNING still holds back INFO records.
        logs_endpoint: Full OTLP/HTTP logs URL (``BOTANU_LOGS_ENDPOINT``,
            ``OTEL_EXPORTER_OTLP_LOGS_ENDPOINT``, ``OTEL_EXPORTER_OTLP_ENDPOINT`` + ``/v1/logs``;
            default: ``endpoint`` with ``/v1/traces`` replaced by ``/v1/logs``).
        handle_signals: When SIGTERM / SIGHUP are still at their default action (the app installs
            no handler), flush and spool within ``shutdown_timeout`` before the process dies of
            the signal (``BOTANU_HANDLE_SIGNALS``; on by default). An app's own handler always wins.
        max_request_bytes: Largest export request (compressed, as sent; ``BOTANU_MAX_REQUEST_BYTES``,
            default 8 MiB): larger batches are split, and a collector's 413 splits a batch too, so
            only an item too large on its own is dropped (``too_large``).
        llm_prices: LLM prices that win over genai-prices' bundled table: a JSON (or YAML) file,
            or a mapping, of ``"provider/model"`` to ``{"input", "output", "cache_read",
            "cache_write"}`` in USD per million tokens (``BOTANU_LLM_PRICES``; a missing cache
            price is the input price). Used for ``botanu.cost.usd`` on LLM call and run spans.
        llm_stream_usage: Ask openai for usage on streamed calls (``stream_options.include_usage``),
            hiding the extra usage-only chunk from the app (``BOTANU_LLM_STREAM_USAGE``; off).

    A second call is a no-op with one warning naming the settings it ignored. If
    an SDK ``TracerProvider`` is already installed (yours, or
    ``opentelemetry-instrument``'s), botanu adds its processors to it.
    """
    explicit = {name: value for name, value in locals().items() if value is not None}
    return _pipeline.init(**explicit)


def shutdown(timeout: float | None = None) -> bool:
    """Flush and stop botanu's pipeline within ``timeout`` seconds (default: ``shutdown_timeout``).

    Returns True only if every span and log record of this process was delivered: none is
    left in memory or in the spool and none was dropped. Safe to call more than once; also
    run automatically at interpreter exit.
    """
    return _pipeline.shutdown_from_app(timeout)


def force_flush(timeout: float | None = None) -> bool:
    """Export everything queued, waiting at most ``timeout`` seconds.

    Returns True only if every span ended before the call was delivered and no
    export failed, and no span was spooled or dropped, since the previous flush.
    (The stock BatchSpanProcessor reports True even when exports failed; botanu does not.)
    """
    return _pipeline.bounded(lambda: _pipeline.force_flush(timeout), timeout, "force_flush()")


def stats() -> dict[str, Any]:
    """Return counters that account for every span and log record.

    ``spans_queued + spool_adopted == exported + replayed + dropped_total + pending`` holds in
    every snapshot (``balanced``); ``dropped`` gives the reasons, ``spool_pending`` what waits on
    disk, ``redaction`` the redaction totals. ``stats()["logs"]`` keeps the same books for log
    records (``records_queued`` in place of ``spans_queued``). See docs/delivery.md.
    """
    return _pipeline.stats()

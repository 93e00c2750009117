"""Builds botanu's span pipeline and attaches it to a TracerProvider.

::

    span start  --> RunEnricher.on_start        copy botanu.* baggage onto every span
    span ending --> LlmCostProcessor            a model call: botanu.cost.usd into the span
    span end   --> Redactor(wrapper).on_end     a redacted copy goes on to
                       +--> DeliveryProcessor   batches -> OTLP/HTTP (gzip); failures -> spool
                       +--> ConsoleTreeProcessor (when console is on)

``botanu.init()`` and the ``opentelemetry-instrument`` configurator both call
:func:`build_processors`, so the two paths export exactly the same way.
"""

from __future__ import annotations

import atexit
import logging
import math
import os
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter

from botanu import _safety, _stats, propagation
from botanu._config import Settings, differing_settings, resolve_settings
from botanu._version import __version__
from botanu.context import _run
from botanu.context._enricher import RunEnricher
from botanu.context._tracing import INSTRUMENTATION_NAME, ending_callback, reset_tracer
from botanu.export import ConsoleTreeProcessor, DeliveryProcessor, build_delivery
from botanu.export._fork import exiting, install_stop_handlers, on_exit_without_atexit, remove_stop_handlers
from botanu.llm import LlmRunEnricher, cost_stage

logger = logging.getLogger("botanu")


class FanOutProcessor(SpanProcessor):
    """Hand each ended span to several processors (after redaction, to all of them)."""

    def __init__(self, processors: Sequence[SpanProcessor]) -> None:
        self.processors = tuple(processors)

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        for processor in self.processors:
            processor.on_start(span, parent_context)

    def on_end(self, span: ReadableSpan) -> None:
        for processor in self.processors:
            processor.on_end(span)

    def shutdown(self) -> None:
        for processor in self.processors:
            processor.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        results = [processor.force_flush(timeout_millis) for processor in self.processors]
        return all(results)


@dataclass
class Processors:
    """The processors botanu adds to a provider, in order."""

    enricher: RunEnricher
    export: SpanProcessor  # the redacting wrapper (or the fan-out when redaction is off)
    delivery: DeliveryProcessor
    console: ConsoleTreeProcessor | None = None
    _combined: BotanuSpanProcessor | None = field(default=None, repr=False)

    def all(self) -> tuple[SpanProcessor, ...]:
        return (self.combined,)

    @property
    def run_id_listener(self) -> Callable[[str], None] | None:
        """What ``_run`` tells about each new run id (the redactor's, when redaction is on)."""
        redactor = getattr(self.export, "redactor", None)
        return getattr(redactor, "_note_generated_id", None)

    @property
    def combined(self) -> BotanuSpanProcessor:
        if self._combined is None:
            self._combined = BotanuSpanProcessor(self.enricher, self.export)
        return self._combined


class BotanuSpanProcessor(SpanProcessor):
    """botanu's one processor on a provider: enrich at start, price model calls as they end,
    redact and deliver at end.

    One processor rather than two because the SDK dispatches every span start and
    end to each processor in turn, and that dispatch is a measurable share of a
    span's cost. The export chain does nothing at span start, so it is not called then.
    """

    def __init__(self, enricher: RunEnricher, export: SpanProcessor) -> None:
        self.enricher = enricher
        self.export = export
        self._export_end = export.on_end  # bound once, not looked up for every span
        self._export_ending = ending_callback(export)
        self._enrich = enricher.enrich
        self._shut = False
        self._own_scope: object = object()  # never a span's scope until one of botanu's is seen

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        # botanu's own spans are created with the run's attributes, so the enricher has nothing
        # to add; they share one scope object, and an identity check is the cheapest test.
        scope = span.instrumentation_scope
        if scope is self._own_scope or self._shut:
            return
        if scope is not None and scope.name == INSTRUMENTATION_NAME:
            self._own_scope = scope
            return
        self._enrich(span, parent_context)

    def _on_ending(self, span: Span) -> None:
        if not self._shut and self._export_ending is not None:
            self._export_ending(span)

    def on_end(self, span: ReadableSpan) -> None:
        # A provider cannot drop a processor: after shutdown this one stays attached but inert,
        # so a later init() on the same provider is the only pipeline that sees spans.
        if not self._shut:
            self._export_end(span)
        elif _active is None:  # no later pipeline took over: this span is lost, and counted
            _note_after_shutdown(span)

    def shutdown(self) -> None:
        self._shut = True
        self.export.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.export.force_flush(timeout_millis)


def build_resource(settings: Settings) -> Resource:
    """Resource attributes; the SDK merges in ``OTEL_RESOURCE_ATTRIBUTES`` and ``OTEL_SERVICE_NAME``."""
    attributes: dict[str, Any] = {
        "telemetry.distro.name": "botanu",
        "telemetry.distro.version": __version__,
    }
    if settings.sources.get("service_name", "default") != "default":
        attributes["service.name"] = settings.service_name
    if settings.service_version:
        attributes["service.version"] = settings.service_version
    if settings.environment:
        attributes["deployment.environment.name"] = settings.environment
    return Resource.create(attributes)


def _redacting(chain: SpanProcessor, settings: Settings) -> SpanProcessor:
    if not settings.redaction:
        logger.warning("botanu: redaction is OFF (BOTANU_REDACTION=0): secrets in spans will be exported")
        return chain
    try:
        from botanu.redaction import RedactingSpanProcessor, Redactor
    except ImportError:  # pragma: no cover - the redaction package ships with botanu
        logger.error("botanu: the redaction package is missing; spans are exported unredacted")
        return chain
    return RedactingSpanProcessor(chain, Redactor.from_settings(settings))


def build_processors(settings: Settings, exporter: SpanExporter | None = None) -> Processors:
    """Create botanu's processors for ``settings`` (not yet attached to a provider).

    ``exporter`` replaces the OTLP/HTTP exporter (benchmarks use a null one).
    """
    delivery = build_delivery(settings, exporter)
    downstream: list[SpanProcessor] = [delivery]
    if settings.console:
        downstream.append(ConsoleTreeProcessor())
    chain = delivery if len(downstream) == 1 else FanOutProcessor(downstream)
    console = downstream[1] if settings.console else None
    # The LLM cost stage sits in front of redaction (or of the chain when redaction is off), so
    # it prices what the call reported, and its enricher notes calls that start inside a run.
    export = cost_stage(_redacting(chain, settings), settings)
    return Processors(LlmRunEnricher(), export, delivery, console)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- the active pipeline


@dataclass
class _Active:
    settings: Settings
    provider: TracerProvider | None
    processors: Processors | None
    owns_provider: bool
    origin: str = "botanu.init()"
    instrumented: list[Any] = field(default_factory=list)
    logs: Any = None  # the LogPipeline, when log records are exported


_lock = threading.RLock()


def _after_fork_in_child() -> None:
    global _lock
    _lock = threading.RLock()  # a lock held by another thread at fork() would stay held in the child


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
_active: _Active | None = None
_atexit_registered = False
# Providers that already carry botanu's processors (from init() or the configurator).
_equipped: weakref.WeakKeyDictionary[TracerProvider, Processors] = weakref.WeakKeyDictionary()


def equip(provider: TracerProvider, settings: Settings) -> Processors:
    """Add botanu's processors to ``provider`` once; return the processors it carries."""
    with _lock:
        existing = _equipped.get(provider)
        if existing is not None:
            return existing
        processors = build_processors(settings)
        for processor in processors.all():
            provider.add_span_processor(processor)
        _equipped[provider] = processors
        return processors


def _disabled_by_env() -> str | None:
    for name in ("OTEL_SDK_DISABLED", "BOTANU_DISABLED"):
        if os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on"):
            return name
    return None


def init(
    _instrument: bool = True,
    _origin: str = "botanu.init()",
    _switched_off_by: str | None = None,
    _log_queue: dict[str, Any] | None = None,
    **kwargs: Any,
) -> Settings:
    """See :func:`botanu.init`. ``_origin`` names who set the pipeline up, for log lines.

    ``_switched_off_by`` names a setting that turns export off for this pipeline
    (the configurator's ``OTEL_TRACES_EXPORTER=none``), as ``OTEL_SDK_DISABLED`` does.
    ``_log_queue`` sizes the log records' queue (``botanu.Logger``'s TraceHub settings).
    """
    try:
        return _init(_instrument, _origin, _switched_off_by, _log_queue or {}, **kwargs)
    except _safety.BotanuUsageError:
        raise
    except Exception as error:
        # A value whose own methods raise (a __float__ or __iter__ of the user's), or botanu's own
        # bug: the app starts untraced, with one line saying so, rather than not at all.
        # Not misuse(): bad input is reported (or raised, in strict mode) where it is parsed; what
        # reaches this point is botanu's own failure, which strict mode must not turn into the app's.
        logger.warning(
            "botanu: init() could not be completed (%s: %s); botanu is not set up",
            type(error).__name__,
            error,
            exc_info=logger.isEnabledFor(logging.DEBUG),
        )
        active = _active
        return active.settings if active is not None else Settings()


def _init(
    _instrument: bool, _origin: str, _switched_off_by: str | None, _log_queue: dict[str, Any], **kwargs: Any
) -> Settings:
    global _active
    with _lock:
        if _active is not None:
            ignored = differing_settings(_active.settings, kwargs)
            detail = f" (settings not applied: {', '.join(ignored)})" if ignored else ""
            if _active.origin != "botanu.init()" and _origin == "botanu.init()":
                # A plain note when nothing is lost; a warning when the app's own arguments are
                # dropped, since it would otherwise run with settings it did not ask for.
                logger.log(
                    logging.WARNING if ignored else logging.INFO,
                    "botanu: the pipeline was already set up by %s; botanu.init() adds nothing, so each span "
                    "is exported once%s%s",
                    _active.origin,
                    detail,
                    "; set them as BOTANU_* environment variables instead" if ignored else "",
                )
            else:
                logger.warning("botanu: init() was already called; this call is ignored%s", detail)
            return _active.settings
        settings = resolve_settings(kwargs)
        if settings.sources.get("strict", "default") != "default":
            _safety.set_strict(settings.strict)  # an explicit strict=False beats BOTANU_STRICT=1
        _run.configure(settings.environment, settings.content_capture_rate)
        # The baggage rules apply even when nothing is exported: identity must not leak either way.
        with _safety.contained("installing the baggage propagator"):
            propagation.install(settings)
        with _safety.contained("installing the response propagator"):
            # traceresponse / X-Trace-ID on responses of the web frameworks (botanu.integrations).
            from botanu.integrations import install_response_propagator

            install_response_propagator(settings)
        disabled = _switched_off_by or _disabled_by_env()
        if disabled:
            logger.info("botanu: %s is set; no spans are exported", disabled)
            _active = _Active(settings, None, None, False, _origin)
            return settings

        provider, owns = _provider_for(settings)
        if provider is None:
            _active = _Active(settings, None, None, False, _origin)
            return settings
        already = provider in _equipped
        processors = equip(provider, settings)
        if already:
            logger.info(
                "botanu: the tracer provider already carries botanu's pipeline (opentelemetry-instrument "
                "with the botanu configurator); init() adds nothing, so each span is exported once"
            )
        _active = _Active(settings, provider, processors, owns, _origin)
        _active.logs = _start_logs(settings, provider, processors, _log_queue)
        _run.set_run_id_listener(processors.run_id_listener)
        reset_tracer()
        if _instrument:
            _active.instrumented = _instrument_libraries(settings)
        _register_atexit()
        if settings.handle_signals:
            with _safety.contained("installing the stop-signal handler"):
                taken = install_stop_handlers()
                logger.debug("botanu: flushing on %s before the process ends", ", ".join(taken) or "(none)")
        return settings


def _start_logs(
    settings: Settings, provider: TracerProvider, processors: Processors, queue: dict[str, Any]
) -> Any:
    """The log pipeline beside the spans' (same settings, resource and console), or None."""
    if not settings.logs:
        return None
    with _safety.contained("setting up log export"):
        from botanu.logs import _setup

        return _setup.build(settings, provider.resource, processors.console, queue)
    return None


def _provider_for(settings: Settings) -> tuple[TracerProvider | None, bool]:
    current = trace.get_tracer_provider()
    if isinstance(current, TracerProvider):
        logger.debug("botanu: attaching to the existing SDK TracerProvider")
        if current not in _equipped:
            _warn_about_other_exporters(current)
        return current, False
    if isinstance(current, trace.ProxyTracerProvider):
        provider = TracerProvider(resource=build_resource(settings), shutdown_on_exit=False)
        trace.set_tracer_provider(provider)
        if trace.get_tracer_provider() is provider:
            return provider, True
        current = trace.get_tracer_provider()
        if isinstance(current, TracerProvider):  # another thread set one first: use it
            provider.shutdown()
            return current, False
    logger.warning(
        "botanu: the global TracerProvider is %s, not the OpenTelemetry SDK's, so botanu cannot add its "
        "processors: spans go to that provider without botanu's run stamping, redaction and export",
        type(current).__name__,
    )
    return None, False


def _warn_about_other_exporters(provider: TracerProvider) -> None:
    """Say so when the provider already exports spans by another route (redaction cannot cover it)."""
    multi = getattr(provider, "_active_span_processor", None)  # the SDK keeps no public list
    exporting = [
        type(processor).__name__
        for processor in getattr(multi, "_span_processors", ())
        if hasattr(processor, "span_exporter")
    ]
    if exporting:
        logger.warning(
            "botanu: the TracerProvider already exports spans through %s (for example the stock "
            "opentelemetry-instrument configurator). botanu adds its own pipeline, so those spans are "
            "exported twice and that copy is NOT redacted. Select botanu's configurator "
            "(OTEL_PYTHON_CONFIGURATOR=botanu, or `botanu run`) or remove that processor.",
            ", ".join(exporting),
        )


def _instrument_libraries(settings: Settings) -> list[Any]:
    from botanu import _instrumentation

    with _safety.contained("enabling instrumentations"):
        active = _instrumentation.instrument(settings)
        logger.debug(
            "botanu: instrumentations on: %s", ", ".join(type(i).__name__ for i in active) or "(none)"
        )
        return active
    return []


def _register_atexit() -> None:
    global _atexit_registered
    if not _atexit_registered:
        atexit.register(_at_exit)
        # Workers leaving through os._exit, and processes dying of a re-raised SIGTERM (uvicorn),
        # skip atexit: the same exit (flow verdicts, flush, the loss line) runs on those ways out.
        on_exit_without_atexit(_at_exit)
        _atexit_registered = True


def _at_exit() -> None:
    with exiting(), _safety.contained("flushing at exit"):
        shutdown()


def _settle_flows(final: bool) -> None:
    """Emit due flow verdicts (and, at shutdown, report runs still open) before flushing."""
    from botanu import flows

    with _safety.contained("settling flow verdicts"):
        flows.finish_runs() if final else flows.check_timeouts()


_flushed_after_shutdown = 0  # spans ended after shutdown that an earlier flush already reported


def _note_after_shutdown(span: ReadableSpan) -> None:
    with _safety.contained("counting a span ended after shutdown"):
        context = span.context
        if context is not None and context.trace_flags.sampled:
            with _stats.lock:
                _stats.spans.refused_locked("after_shutdown")


def force_flush(timeout: float | None = None) -> bool:
    """See :func:`botanu.force_flush`."""
    global _flushed_after_shutdown
    _settle_flows(final=False)
    active = _active
    if active is None or active.processors is None:
        # Nothing to flush; but spans ended since shutdown were not delivered, and a flush
        # that said True would claim they were.
        lost = _stats.snapshot()["dropped"].get("after_shutdown", 0)
        clean = lost <= _flushed_after_shutdown  # (fewer: the counters were reset)
        _flushed_after_shutdown = lost
        return clean
    seconds = active.settings.shutdown_timeout if timeout is None else _seconds(timeout)
    deadline = time.monotonic() + seconds
    delivered = active.processors.export.force_flush(int(seconds * 1000))
    if active.logs is not None:
        remaining = max(0.0, deadline - time.monotonic())
        delivered = active.logs.delivery.force_flush(int(remaining * 1000)) and delivered
    return delivered


def shutdown(timeout: float | None = None) -> bool:
    """See :func:`botanu.shutdown`."""
    global _active
    if _active is None:
        return True
    # Checked before anything is torn down: in strict mode a bad timeout raises here.
    seconds = _active.settings.shutdown_timeout if timeout is None else _seconds(timeout)
    _settle_flows(final=True)
    with _lock:
        active = _active
        _active = None
        _run.set_run_id_listener(None)
    if active is None or active.processors is None:
        return True
    processors = active.processors
    logs = active.logs
    deliveries = [processors.delivery] + ([logs.delivery] if logs is not None else [])
    deadline = time.monotonic() + seconds
    with _safety.contained("shutting down"):
        if logs is not None:
            from botanu.logs import _setup

            _setup.take_down(logs)  # no record is logged into a pipeline being closed
        # One budget for all: what the flushes could not send, shutdown spools.
        for delivery in deliveries:
            begin_exit = getattr(delivery.exporter, "begin_exit", None)
            if begin_exit is not None:
                begin_exit()
        delivered = processors.export.force_flush(int(seconds * 1000))
        if logs is not None:
            remaining = max(0.0, deadline - time.monotonic())
            delivered = logs.delivery.force_flush(int(remaining * 1000)) and delivered
        for delivery in deliveries:
            remaining = max(0.0, deadline - time.monotonic())
            delivery.shutdown(int(remaining * 1000))
        processors.combined.shutdown()
        if active.provider is not None:
            _equipped.pop(active.provider, None)
        _report_losses()
        # What init() instrumented it also undoes, so a later init() (or the app) starts clean.
        from botanu import _instrumentation

        _instrumentation.uninstrument(active.instrumented)
        # True means every span of this process reached the collector: an earlier flush that
        # saw failures does not make a later, quiet one the whole truth.
        final = _stats.snapshot()
        records = final["logs"]
        return (
            delivered
            and final["pending"] == 0
            and final["dropped_total"] == 0
            and records["pending"] == 0
            and records["dropped_total"] == 0
        )
    return False


_MAX_WAIT = 3600.0


def shutdown_from_app(timeout: float | None) -> bool:
    """``botanu.shutdown()``: bounded, then SIGTERM/SIGHUP get their default action back.

    Only after the flush: a stop signal during it still finds botanu's handler, which defers
    to the exit under way instead of letting the default action kill the process mid-flush.
    (At interpreter exit the handler simply stays: the process is ending anyway.)
    """
    result = bounded(lambda: shutdown(timeout), timeout, "shutdown()")
    with _safety.contained("removing the stop-signal handler"):
        remove_stop_handlers()
    return result


def bounded(work: Callable[[], bool], timeout: float | None, what: str) -> bool:
    """Run ``work`` (a flush or shutdown) on a thread of its own; wait for it at most its budget.

    The caller may be a signal handler that interrupted botanu's own code on this very thread
    while it held one of botanu's locks (an app's SIGTERM handler calling ``shutdown()`` while
    the main thread ends a span): run here, the work would wait for that lock forever. On its
    own thread it waits at most the budget, and the caller gets False.
    """
    active = _active
    seconds = (
        _seconds(timeout)
        if timeout is not None
        else (active.settings.shutdown_timeout if active is not None else 5.0)
    )
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append(work())
        except BaseException as error:  # strict-mode usage errors belong to the caller
            outcome.append(error)

    worker = threading.Thread(target=run, name=f"botanu-{what}", daemon=True)
    try:
        worker.start()
    except RuntimeError:  # interpreter shutting down: no new threads
        return work()
    worker.join(seconds + 1.0)
    if worker.is_alive() or not outcome:
        _safety.warn_once(
            ("bounded", what),
            "botanu: %s did not finish within %.1f s (another thread or an interrupted call holds "
            "botanu's state); returning False",
            what,
            seconds + 1.0,
        )
        return False
    result = outcome[0]
    if isinstance(result, BaseException):
        raise result
    return bool(result)


def _seconds(timeout: object) -> float:
    if isinstance(timeout, (int, float)) and not isinstance(timeout, bool):
        try:
            value = float(timeout)
        except OverflowError:  # an int too large for a float: clamp it like any large value
            value = _MAX_WAIT
        if value >= 0 and not math.isnan(value):
            return min(value, _MAX_WAIT)
    _safety.misuse(
        "timeout must be a non-negative number of seconds, got a %s; using 5", type(timeout).__name__
    )
    return 5.0


def _report_losses() -> None:
    summary = _stats.loss_summary()
    if summary:
        logger.warning(summary)


def stats() -> dict[str, Any]:
    """See :func:`botanu.stats`."""
    out = _stats.snapshot()
    with _safety.contained("reading redaction statistics"):
        from botanu.redaction import redaction_stats

        out["redaction"] = redaction_stats()
    return out


def active_settings() -> Settings | None:
    return _active.settings if _active is not None else None


def _reset_for_tests() -> None:
    """Forget the active pipeline without shutting it down (tests reset the OTel globals too)."""
    global _active
    with _lock:
        if _active is not None and _active.logs is not None:
            from botanu.logs import _setup

            _setup.take_down(_active.logs)
        _active = None
        _equipped.clear()
        _run.set_run_id_listener(None)
        propagation._forget_for_tests()
    reset_tracer()

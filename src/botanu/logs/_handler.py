"""The stdlib ``logging`` handler botanu runs at the root logger, and how it is put there.

It turns each ``logging`` record that reaches the root logger into an OTel log record
emitted through botanu's LoggerProvider. It must not change what the app sees, so it is
called after the root's own handlers (a hook on ``Logger.callHandlers``) rather than
added to ``root.handlers``, where every library looking for handlers would see it:

* logger levels, the app's handlers and formatters are never touched;
* ``logging.basicConfig()`` and ``dictConfig`` work as without botanu (and cannot remove it);
* an app that configured no handler still gets Python's last-resort console output of
  warnings and errors, and werkzeug still prints its banner;
* botanu's own, the OpenTelemetry SDK's and the exporter's log lines (and everything logged
  on botanu's threads or under OTel's "suppress instrumentation" flag) are not exported,
  so an unreachable collector cannot feed its own warnings back into the queue;
* another handler that feeds OpenTelemetry logs (the SDK's ``LoggingHandler``, the contrib
  logging instrumentation's) is taken off root, with one warning, so no record is exported twice.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry._logs import LogRecord
from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY

try:  # SDK 1.39 and later: a record built as the SDK's own ReadWriteLogRecord is emitted as it is
    from opentelemetry.sdk._logs import ReadWriteLogRecord
except ImportError:  # pragma: no cover - older SDKs: every record takes the public route
    ReadWriteLogRecord = None

from botanu._safety import report_internal, warn_once
from botanu.context._attributes import scalar_items
from botanu.context._baggage import botanu_entries
from botanu.logs._translate import message_of, record_attributes, severity

logger = logging.getLogger("botanu")

# Loggers whose records are never exported: botanu's own and the OTel SDK's and exporters'
# (a record about a failed export, exported, would fail again and again), and urllib3's, which
# logs the exporter's connection retries.
_OWN_PREFIXES = ("botanu", "opentelemetry", "urllib3.connectionpool")
_OWN_THREAD_PREFIX = "botanu-"


class BotanuLoggingHandler(logging.Handler):
    """Exports stdlib ``logging`` records as OTel log records (see the module docstring).

    Args:
        logger_provider: Where records go (botanu's LoggerProvider).
        level: The lowest level exported (``log_level`` / ``BOTANU_LOG_LEVEL``).
    """

    def __init__(self, logger_provider: Any, level: int = logging.INFO) -> None:
        super().__init__(level)
        self._provider = logger_provider
        self._loggers: dict[str, Any] = {}
        self._root_handlers_seen = -1

    def emit(self, record: logging.LogRecord) -> None:
        try:
            name = record.name
            if name.startswith(_OWN_PREFIXES) and _is_own(name):
                return
            if record.threadName and record.threadName.startswith(_OWN_THREAD_PREFIX):
                return
            current = otel_context.get_current()
            if current.get(_SUPPRESS_INSTRUMENTATION_KEY):
                return
            self.send(
                name,
                record.levelno,
                message_of(record),
                record_attributes(record),
                int(record.created * 1e9),
                current,
            )
        except Exception:  # a logging call must never raise because of botanu
            report_internal("exporting a log record")

    def send(
        self,
        scope: str,
        levelno: int,
        body: str,
        attributes: dict[str, Any],
        timestamp: int | None = None,
        current: Any = None,
    ) -> None:
        """Emit one record in the current context (the handler's, ``Logger``'s and the adapters')."""
        if current is None:
            current = otel_context.get_current()
        # The run's attributes go in now, into a plain dict: the processor would otherwise add
        # them one locked attribute update at a time.
        entries, _ = botanu_entries(current)
        for key, value in entries:
            if key not in attributes:
                attributes[key] = value
        target = self._loggers.get(scope)
        if target is None:
            target = self._logger_for(scope)
        otel_logger, direct = target
        number, text = severity(levelno)
        now = time.time_ns()
        direct = direct if direct is not None and _stored_unchanged(attributes, direct[3]) else None
        record = LogRecord(
            timestamp=timestamp or now,
            observed_timestamp=now,
            context=current,
            severity_number=number,
            severity_text=text,
            body=body,
            attributes=None if direct is not None else attributes,
        )
        if direct is None:
            otel_logger.emit(record)
            return
        # The SDK would check each value again (a sixth of a record's cost) and store it unchanged:
        # the record is built as the SDK builds it, and its values stored directly.
        writable = ReadWriteLogRecord(record, direct[0], direct[1], direct[2])
        writable.log_record.attributes._dict.update(attributes)  # type: ignore[union-attr]
        otel_logger.emit(writable)

    def _logger_for(self, name: str) -> tuple[Any, tuple[Any, Any, Any, int | None] | None]:
        otel_logger = self._provider.get_logger(name or "root")
        target = (otel_logger, _direct_route(otel_logger))
        if len(self._loggers) < 4096:  # logger names are few; a program making them up is bounded
            self._loggers[name] = target
        return target

    def flush(self) -> None:
        # Flushing means sending over the network: logging.shutdown() calls this at exit, and
        # botanu's own exit path already flushes within its budget. Nothing to do here.
        pass


def _direct_route(otel_logger: Any) -> tuple[Any, Any, Any, int | None] | None:
    """(resource, scope, limits, count limit) of an SDK logger without a value length limit, else None."""
    if ReadWriteLogRecord is None:
        return None
    try:
        limits = otel_logger._log_record_limits
        found = (otel_logger._resource, otel_logger._instrumentation_scope, limits)
    except AttributeError:  # not the SDK's Logger, or one before 1.45 (it keeps no limits)
        return None
    # SDK versions name the limits ReadWriteLogRecord applies differently: whichever it reads,
    # no length limit may apply, and the smallest count limit is the one kept to.
    if getattr(limits, "max_attribute_length", None) is not None:
        return None
    if getattr(limits, "max_log_record_attribute_length", None) is not None:
        return None
    counts = (getattr(limits, "max_attributes", None), getattr(limits, "max_log_record_attributes", None))
    known = [count for count in counts if count is not None]
    return (*found, min(known) if known else None)


def _stored_unchanged(attributes: dict[str, Any], maxlen: int | None) -> bool:
    """True when the SDK would store ``attributes`` as they are: text, numbers, flags, within its count."""
    return (maxlen is None or len(attributes) <= maxlen) and scalar_items(attributes)


def emit_record(
    scope: str, levelno: int, body: str, attributes: dict[str, Any], timestamp: int | None = None
) -> bool:
    """Emit one record through botanu's log pipeline (for ``Logger`` and the adapters).

    False, with one warning, when there is no pipeline (botanu not initialised, logs off).
    """
    handler = _installed
    if handler is None:
        warn_once(
            "records without pipeline",
            "botanu: log records are not exported: botanu is not initialised or its logs are off "
            "(logs=False / BOTANU_LOGS=0 / OTEL_LOGS_EXPORTER=none)",
        )
        return False
    handler.send(scope, levelno, body, attributes, timestamp)
    return True


def _is_own(name: str) -> bool:
    return any(name == prefix or name.startswith(prefix + ".") for prefix in _OWN_PREFIXES)


# --------------------------------------------------------------------------- installing at the root

_install_lock = threading.Lock()
_installed: BotanuLoggingHandler | None = None
_original_call_handlers = logging.Logger.callHandlers


def _call_handlers(self: logging.Logger, record: logging.LogRecord) -> None:
    """``Logger.callHandlers``, then botanu's handler for every record that reached the root logger.

    botanu's handler works at the root but is not in ``root.handlers``: a handler there changes
    what the app sees. ``logging.basicConfig()`` would do nothing (it configures only a root
    without handlers), ``dictConfig`` would silently remove it, werkzeug would not print its
    banner and Python's last-resort output of warnings would stop, since each looks for handlers.
    """
    handler = _installed
    if handler is not None and handler._root_handlers_seen != len(logging.root.handlers):
        # Before the root's handlers run: an OTel handler added since would export this record too.
        _evict_other_otel_handlers(handler)
    _original_call_handlers(self, record)
    if handler is None or record.levelno < handler.level:
        return
    node: logging.Logger | None = self
    while node is not None and node.parent is not None:  # the root is the logger without a parent
        if not node.propagate:
            return  # the record stopped below the root, as it does for root's own handlers
        node = node.parent  # type: ignore[assignment]
    handler.handle(record)


def install(handler: BotanuLoggingHandler) -> BotanuLoggingHandler:
    """Make ``handler`` see every record that reaches the root logger (replacing an earlier one)."""
    global _installed
    with _install_lock:
        _installed = handler
        logging.Logger.callHandlers = _call_handlers  # type: ignore[method-assign]
        _evict_other_otel_handlers(handler)
        return handler


def uninstall() -> None:
    """Stop exporting ``logging`` records (shutdown)."""
    global _installed
    with _install_lock:
        _installed = None
        if logging.Logger.callHandlers is _call_handlers:
            logging.Logger.callHandlers = _original_call_handlers  # type: ignore[method-assign]


def installed() -> BotanuLoggingHandler | None:
    return _installed


def _evict_other_otel_handlers(ours: BotanuLoggingHandler) -> None:
    """Take handlers that also feed OTel logs off root: with botanu's, each record would go out twice."""
    root = logging.root
    others = [
        h
        for h in list(root.handlers)
        if h is not ours
        and type(h).__name__ == "LoggingHandler"
        and type(h).__module__.startswith("opentelemetry.")
    ]
    for other in others:
        root.removeHandler(other)
    if others:
        logger.warning(
            "botanu: removed %s from the root logger: botanu's log handler already exports every "
            "record, through botanu's redaction and delivery (each record would be exported twice)",
            ", ".join(f"{type(h).__module__}.{type(h).__name__}" for h in others),
        )
    ours._root_handlers_seen = len(root.handlers)

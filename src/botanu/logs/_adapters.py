"""structlog and loguru: feed their events into botanu's log pipeline.

Neither library is imported here: both adapters only read what the library hands
them, so they cost nothing (and fail nothing) where the library is absent.

* structlog: add :func:`structlog_processor` to the processor chain, before the renderer.
  It exports the event and returns it unchanged. Use it when structlog does *not* already
  hand its events to the stdlib ``logging`` module (``structlog.stdlib.LoggerFactory``):
  those reach botanu's root handler anyway, and would otherwise be exported twice.
* loguru: ``logger.add(botanu.logs.loguru_sink)``. loguru does not use ``logging``, so this
  is the only way its records reach botanu.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, MutableMapping
from typing import Any

from botanu._safety import report_internal
from botanu.logs._handler import emit_record
from botanu.logs._translate import (
    CODE_FILE_PATH,
    CODE_FUNCTION_NAME,
    CODE_LINE_NUMBER,
    add_exception,
    add_extra,
    safe_str,
)

_STRUCTLOG_OWN_KEYS = frozenset({"event", "level", "timestamp", "exc_info", "exception", "stack", "logger"})
_LEVELS = {
    "trace": 5,
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "success": 25,
    "warn": logging.WARNING,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "exception": logging.ERROR,
    "fatal": logging.CRITICAL,
    "critical": logging.CRITICAL,
}


def structlog_processor(logger: Any, method_name: str, event_dict: MutableMapping[str, Any]) -> Any:
    """A structlog processor that exports each event as an OTel log record; returns the event.

    The body is the ``event``; the other keys become attributes (``level``, ``timestamp`` and
    the exception keys excepted); ``exc_info`` (True, an exception or a tuple) becomes
    ``exception.*`` and the fingerprint. The instrumentation scope is the ``logger`` key, or
    ``structlog``.
    """
    try:
        level_name = safe_str(event_dict.get("level") or method_name).lower()
        attributes: dict[str, Any] = {}
        add_extra(attributes, {k: v for k, v in event_dict.items() if k not in _STRUCTLOG_OWN_KEYS})
        error = _exception_of(event_dict.get("exc_info"), method_name)
        if error is not None:
            add_exception(attributes, error)
        scope = safe_str(event_dict.get("logger") or "structlog")
        emit_record(
            scope, _LEVELS.get(level_name, logging.INFO), safe_str(event_dict.get("event", "")), attributes
        )
    except Exception:  # a logging call must never raise because of botanu
        report_internal("exporting a structlog event")
    return event_dict


def _exception_of(exc_info: Any, method_name: str) -> BaseException | None:
    if isinstance(exc_info, BaseException):
        return exc_info
    if isinstance(exc_info, tuple) and len(exc_info) == 3 and isinstance(exc_info[1], BaseException):
        return exc_info[1]
    if exc_info is True or (exc_info is None and method_name == "exception"):
        import sys

        return sys.exc_info()[1]
    return None


def loguru_sink(message: Any) -> None:
    """A loguru sink (``logger.add(loguru_sink)``) that exports each record as an OTel log record.

    The body is the record's message; ``extra`` (from ``bind()``) becomes attributes; the
    exception (``logger.exception``, ``opt(exception=...)``) becomes ``exception.*`` and the
    fingerprint; the scope is the record's module name.
    """
    try:
        record: Mapping[str, Any] = message.record
        level = record["level"]
        attributes: dict[str, Any] = {}
        add_extra(attributes, record.get("extra") or {})
        attributes[CODE_FILE_PATH] = safe_str(getattr(record.get("file"), "path", record.get("file")))
        attributes[CODE_FUNCTION_NAME] = safe_str(record.get("function"))
        attributes[CODE_LINE_NUMBER] = record.get("line") or 0
        exception = record.get("exception")
        if exception is not None and isinstance(getattr(exception, "value", None), BaseException):
            add_exception(attributes, exception.value, exception.traceback)
        when = record.get("time")
        timestamp = int(when.timestamp() * 1e9) if when is not None else None
        emit_record(
            safe_str(record.get("name") or "loguru"),
            int(getattr(level, "no", logging.INFO)),
            safe_str(record.get("message", "")),
            attributes,
            timestamp,
        )
    except Exception:  # a logging call must never raise because of botanu
        report_internal("exporting a loguru record")

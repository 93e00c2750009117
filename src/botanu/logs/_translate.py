"""From what the app logged to an OTel log record's fields: severity, body, attributes, errors.

Shared by the stdlib handler, :class:`botanu.Logger` and the structlog / loguru adapters,
so a record reads the same whichever way it was made.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import traceback
from collections.abc import Mapping
from types import TracebackType
from typing import Any

from opentelemetry._logs import SeverityNumber

from botanu._analytics_attributes import attribute_value
from botanu.logs._fingerprint import (
    FINGERPRINT,
    fingerprint_exception,
    fingerprint_stack,
    fingerprint_text,
    type_name,
)

EXCEPTION_TYPE = "exception.type"
EXCEPTION_MESSAGE = "exception.message"
EXCEPTION_STACKTRACE = "exception.stacktrace"
CODE_STACKTRACE = "code.stacktrace"
CODE_FILE_PATH = "code.file.path"
CODE_FUNCTION_NAME = "code.function.name"
CODE_LINE_NUMBER = "code.line.number"
MODULE = "botanu.module"
_STACK_LIMIT = 64  # frames kept in a stack trace text (innermost ones)

# OTel's severity numbers (logs data model): the first of each range; TRACE is 1-4.
_RANGES = (
    (logging.CRITICAL, SeverityNumber.FATAL, "FATAL"),
    (logging.ERROR, SeverityNumber.ERROR, "ERROR"),
    (logging.WARNING, SeverityNumber.WARN, "WARN"),
    (logging.INFO, SeverityNumber.INFO, "INFO"),
    (logging.DEBUG, SeverityNumber.DEBUG, "DEBUG"),
    (0, SeverityNumber.TRACE, "TRACE"),
)
_severities: dict[int, tuple[SeverityNumber, str]] = {}


def severity(levelno: int) -> tuple[SeverityNumber, str]:
    """OTel severity number and text for a stdlib level: DEBUG 5, INFO 9, WARN 13, ERROR 17, FATAL 21.

    Levels between the standard ones take the next numbers of their range (a custom level 25 is
    INFO4, 12), as the data model's mapping of other systems' levels suggests.
    """
    known = _severities.get(levelno)
    if known is not None:
        return known
    for floor, number, text in _RANGES:
        if levelno >= floor:
            offset = min(3, levelno - floor)
            value = (SeverityNumber(number.value + offset), text if offset == 0 else f"{text}{offset + 1}")
            break
    else:
        value = (SeverityNumber.TRACE, "TRACE")
    if len(_severities) < 256:
        _severities[levelno] = value
    return value


def safe_str(value: Any) -> str:
    """``str(value)``, or a placeholder when the object's own ``__str__`` raises."""
    try:
        return value if type(value) is str else str(value)
    except Exception:
        return f"<{type(value).__name__} object (str() failed)>"


def safe_attribute(value: Any) -> Any:
    """``value`` as an OTel attribute value: primitives kept, anything else bounded JSON or text."""
    try:
        return attribute_value(value)
    except Exception:  # a __str__ or __iter__ of the app's that raises
        return f"<{type(value).__name__} object>"


def add_extra(attributes: dict[str, Any], extra: Mapping[Any, Any] | None) -> None:
    """``extra`` keys as attributes under their own names (``None`` values left out)."""
    if not extra:
        return
    try:
        items = list(extra.items())
    except Exception:
        return
    for key, value in items:
        if value is not None:
            attributes[safe_str(key)] = safe_attribute(value)


def add_exception(attributes: dict[str, Any], error: BaseException, tb: TracebackType | None = None) -> None:
    """``exception.type/message/stacktrace`` and the fingerprint of ``error``."""
    tb = tb if tb is not None else error.__traceback__
    attributes[EXCEPTION_TYPE] = type_name(type(error))
    attributes[EXCEPTION_MESSAGE] = safe_str(error)
    try:
        text = "".join(traceback.format_exception(type(error), error, tb, limit=_STACK_LIMIT))
    except Exception:
        text = ""
    if text:
        attributes[EXCEPTION_STACKTRACE] = text
    with contextlib.suppress(Exception):
        attributes[FINGERPRINT] = fingerprint_exception(error)


def add_caller_stack(attributes: dict[str, Any], message: str, skip: int) -> None:
    """The caller's stack as ``code.stacktrace`` (an error logged with no exception), and its fingerprint.

    ``skip`` is the number of innermost frames that belong to botanu's own call path.
    """
    frame = sys._getframe(skip + 1)
    summary = traceback.StackSummary.extract(traceback.walk_stack(frame), limit=_STACK_LIMIT)
    summary.reverse()  # walk_stack goes innermost first; a traceback reads outermost first
    attributes[CODE_STACKTRACE] = "".join(summary.format())
    attributes[FINGERPRINT] = fingerprint_stack("", message, [(f.filename, f.name) for f in summary])


def add_text_fingerprint(attributes: dict[str, Any]) -> None:
    """A fingerprint from exported text, for records that carry an exception but none yet."""
    if FINGERPRINT in attributes:
        return
    kind = attributes.get(EXCEPTION_TYPE)
    message = attributes.get(EXCEPTION_MESSAGE)
    if kind is None and message is None:
        return
    stack = attributes.get(EXCEPTION_STACKTRACE) or attributes.get(CODE_STACKTRACE) or ""
    attributes[FINGERPRINT] = fingerprint_text(safe_str(kind or ""), safe_str(message or ""), safe_str(stack))


# --------------------------------------------------------------------------- stdlib records

# Every attribute a stdlib LogRecord has of its own; the rest came from ``extra=``.
# The contrib logging instrumentation's record factory adds the otel* fields for log formats; the
# exported record carries the same facts as its trace context and resource.
_RESERVED = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
    "taskName",
    "otelSpanID",
    "otelTraceID",
    "otelTraceSampled",
    "otelServiceName",
}


def message_of(record: logging.LogRecord) -> str:
    """The record's formatted message; a bad format or argument never raises."""
    try:
        return record.getMessage()
    except Exception as error:
        args = record.args
        try:
            shown = repr(args)
        except Exception:
            shown = f"<{type(args).__name__}>"
        problem = f"message not formatted ({type(error).__name__}); args: {shown[:512]}"
        return f"{safe_str(record.msg)} [botanu: {problem}]"


def record_attributes(record: logging.LogRecord) -> dict[str, Any]:
    """The OTel attributes of a stdlib record: extras, code location, thread, exception."""
    attributes: dict[str, Any] = {}
    for key, value in record.__dict__.items():
        if key not in _RESERVED and value is not None:
            attributes[key] = safe_attribute(value)
    attributes[CODE_FILE_PATH] = record.pathname
    attributes[CODE_FUNCTION_NAME] = record.funcName
    attributes[CODE_LINE_NUMBER] = record.lineno
    exc_info = record.exc_info
    if exc_info and exc_info[1] is not None:
        add_exception(attributes, exc_info[1], exc_info[2])
    if record.stack_info:
        attributes[CODE_STACKTRACE] = record.stack_info
        if FINGERPRINT not in attributes and record.levelno >= logging.ERROR:
            attributes[FINGERPRINT] = fingerprint_text("", message_of(record), record.stack_info)
    return attributes

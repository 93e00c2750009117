"""``botanu.Logger``: TraceHub's logger API on botanu's log pipeline.

A migration from TraceHub is a changed import: the same methods, keywords and
constructor settings. Records go straight to OpenTelemetry logs (not through
``logging``), so they do not depend on stdlib logger levels and are exported exactly
once, with the same correlation, redaction, fingerprints and delivery as every record.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from typing import Any

from botanu._safety import BotanuUsageError, contained, misuse, report_internal, user_call_site, warn_once
from botanu.logs._fingerprint import FINGERPRINT, fingerprint_text
from botanu.logs._handler import emit_record
from botanu.logs._translate import (
    CODE_FILE_PATH,
    CODE_FUNCTION_NAME,
    CODE_LINE_NUMBER,
    EXCEPTION_MESSAGE,
    EXCEPTION_STACKTRACE,
    MODULE,
    add_caller_stack,
    add_exception,
    add_extra,
    safe_str,
)

_SCOPE = "botanu.logger"
# Stack depth from the app's call to the frame add_caller_stack starts at (app -> method -> _log).
_OWN_FRAMES = 2


class Logger:
    """A TraceHub-compatible logger whose records travel through botanu's log pipeline.

    ``debug / info / warn / warning / error / fatal / critical(message, *, module="", extra=None)``;
    ``error`` and ``fatal`` (``critical``) also take ``exc_info``, ``exception``,
    ``error_message`` and ``stack_trace``. Records carry the active span's trace and span ids
    and the run's ``botanu.*`` attributes; ``module=`` becomes ``botanu.module``, ``extra``
    keys become attributes under their own names.

    The constructor takes TraceHub's settings. When botanu is not initialised yet they set it
    up (``botanu.init()`` with ``api_key``, ``service`` as ``service_name``, ``environment``,
    ``endpoint``, ``timeout`` as ``export_timeout``, ``compress`` as ``compression`` and
    ``dlq_path`` as ``spool_dir``; ``batch_size``, ``flush_interval`` and ``max_buffer`` size
    the log queue); when it already is, one warning names the settings that were not applied.
    ``max_retries`` is not used: botanu retries for ``export_retry_window`` seconds, then spools.

    Args:
        name: The instrumentation scope of its records (default ``botanu.logger``).
    """

    def __init__(
        self,
        api_key: str | None = None,
        service: str | None = None,
        environment: str | None = None,
        endpoint: str | None = None,
        *,
        batch_size: int | None = None,
        flush_interval: float | None = None,
        max_buffer: int | None = None,
        max_retries: int | None = None,
        timeout: float | None = None,
        compress: bool | None = None,
        dlq_path: str | None = None,
        name: str = _SCOPE,
    ) -> None:
        self._name = name if isinstance(name, str) and name else _SCOPE
        self._closed = False
        with contained("configuring botanu.Logger"):
            _configure(
                {
                    "api_key": api_key,
                    "service_name": service,
                    "environment": environment,
                    "endpoint": _traces_url(endpoint),
                    "export_timeout": timeout,
                    "compression": None if compress is None else ("gzip" if compress else "none"),
                    "spool_dir": dlq_path,
                },
                {"batch_size": batch_size, "flush_interval": flush_interval, "max_buffer": max_buffer},
                max_retries,
            )

    # ------------------------------------------------------------------ TraceHub's methods

    def debug(self, message: Any, *, module: str = "", extra: Mapping[str, Any] | None = None) -> None:
        """Log at DEBUG (severity 5)."""
        self._log(logging.DEBUG, message, module, extra)

    def info(self, message: Any, *, module: str = "", extra: Mapping[str, Any] | None = None) -> None:
        """Log at INFO (severity 9)."""
        self._log(logging.INFO, message, module, extra)

    def warn(self, message: Any, *, module: str = "", extra: Mapping[str, Any] | None = None) -> None:
        """Log at WARN (severity 13)."""
        self._log(logging.WARNING, message, module, extra)

    warning = warn

    def error(
        self,
        message: Any,
        *,
        exc_info: bool = False,
        exception: BaseException | None = None,
        error_message: str | None = None,
        stack_trace: str | None = None,
        module: str = "",
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        """Log at ERROR (severity 17), with the error's type, message and stack trace.

        ``exception=e`` takes them from ``e`` and its traceback; ``exc_info=True`` from the
        exception being handled, or outside an ``except`` block the caller's stack as
        ``code.stacktrace``; ``error_message`` / ``stack_trace`` override what was captured.
        """
        self._log(logging.ERROR, message, module, extra, exc_info, exception, error_message, stack_trace)

    def fatal(
        self,
        message: Any,
        *,
        exc_info: bool = False,
        exception: BaseException | None = None,
        error_message: str | None = None,
        stack_trace: str | None = None,
        module: str = "",
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        """Log at FATAL (severity 21); the error arguments are those of :meth:`error`."""
        self._log(logging.CRITICAL, message, module, extra, exc_info, exception, error_message, stack_trace)

    critical = fatal

    def flush(self, timeout: float | None = None) -> bool:
        """Deliver every queued span and record (bounded by ``timeout``); True if all were delivered."""
        with contained("flushing botanu.Logger"):
            from botanu import _pipeline

            return _pipeline.bounded(lambda: _pipeline.force_flush(timeout), timeout, "Logger.flush()")
        return False

    def close(self, timeout: float | None = None) -> bool:
        """Flush, then ignore further calls on this logger (botanu's pipeline keeps running)."""
        delivered = self.flush(timeout)
        self._closed = True
        return delivered

    # ------------------------------------------------------------------ the record

    def _log(
        self,
        level: int,
        message: Any,
        module: str,
        extra: Mapping[str, Any] | None,
        exc_info: bool = False,
        exception: BaseException | None = None,
        error_message: str | None = None,
        stack_trace: str | None = None,
    ) -> None:
        try:
            if self._closed:
                misuse("botanu.Logger was closed; the record is not exported", site=user_call_site())
                return
            body = safe_str(message)
            attributes: dict[str, Any] = {}
            if extra is not None:
                if isinstance(extra, Mapping):
                    add_extra(attributes, extra)
                else:
                    misuse("botanu.Logger extra= must be a mapping, got %s; ignored", type(extra).__name__)
            if module:
                attributes[MODULE] = safe_str(module)
            caller = sys._getframe(_OWN_FRAMES)
            attributes[CODE_FILE_PATH] = caller.f_code.co_filename
            attributes[CODE_FUNCTION_NAME] = caller.f_code.co_name
            attributes[CODE_LINE_NUMBER] = caller.f_lineno
            if level >= logging.ERROR:
                _add_error(attributes, body, exc_info, exception, error_message, stack_trace)
            emit_record(self._name, level, body, attributes)
        except BotanuUsageError:  # strict mode: misuse is the app's to see
            raise
        except Exception:  # a logging call must never raise because of botanu
            report_internal("botanu.Logger")


def _add_error(
    attributes: dict[str, Any],
    body: str,
    exc_info: bool,
    exception: BaseException | None,
    error_message: str | None,
    stack_trace: str | None,
) -> None:
    """TraceHub's four ways to describe an error, in its order of precedence."""
    if isinstance(exception, BaseException):
        add_exception(attributes, exception)
    elif exc_info:
        active = sys.exc_info()[1]
        if active is not None:
            add_exception(attributes, active)
        else:
            add_caller_stack(attributes, body, skip=_OWN_FRAMES + 1)
    if error_message is not None:
        attributes[EXCEPTION_MESSAGE] = safe_str(error_message)
    if stack_trace is not None:
        attributes[EXCEPTION_STACKTRACE] = safe_str(stack_trace)
    if error_message is not None or stack_trace is not None:
        attributes.pop(FINGERPRINT, None)  # the explicit values describe the error: group by them
        attributes[FINGERPRINT] = fingerprint_text(
            safe_str(attributes.get("exception.type", "")),
            safe_str(attributes.get(EXCEPTION_MESSAGE, body)),
            safe_str(attributes.get(EXCEPTION_STACKTRACE) or attributes.get("code.stacktrace") or ""),
        )


def _traces_url(endpoint: Any) -> Any:
    """TraceHub's endpoint is a base URL; botanu's ``endpoint`` is the traces URL under it."""
    if not isinstance(endpoint, str) or not endpoint.strip():
        return None
    base = endpoint.strip().rstrip("/")
    return base if base.endswith("/v1/traces") else base + "/v1/traces"


def _configure(arguments: dict[str, Any], queue: dict[str, Any], max_retries: Any) -> None:
    from botanu import _pipeline

    given = {name: value for name, value in arguments.items() if value is not None}
    sizing = {name: value for name, value in queue.items() if value is not None}
    if max_retries is not None:
        warn_once(
            "Logger max_retries",
            "botanu: Logger(max_retries=...) is not used: botanu retries for export_retry_window "
            "seconds (BOTANU_EXPORT_RETRY_WINDOW), then keeps the batch in the spool",
        )
    if _pipeline.active_settings() is not None:
        ignored = sorted({*given, *sizing})
        if ignored:
            warn_once(
                ("Logger settings ignored", tuple(ignored)),
                "botanu: botanu is already initialised; Logger(%s) not applied (configure botanu.init() "
                "or BOTANU_* variables instead)",
                ", ".join(ignored),
            )
        return
    if not given and not sizing:
        return  # nothing to configure: the app calls botanu.init() itself (or runs under botanu run)
    _pipeline.init(_log_queue=sizing, **given)

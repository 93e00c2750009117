"""BotanuLogProcessor: stamps each log record with its run, then hands it to delivery.

Any record emitted through botanu's LoggerProvider passes here, whichever way it was
made (botanu's stdlib handler, :class:`botanu.Logger`, the structlog or loguru adapters,
another library calling the OTel logs API), so every one gets the same treatment:

* the run's ``botanu.*`` attributes from the baggage of the context it was logged in,
  exactly as the enricher stamps spans (keys the record already has are kept);
* ``botanu.error.fingerprint`` when it carries an exception but no fingerprint yet;
* delivery through the same kind of processor as spans (bounded queue, spool, stats).
"""

from __future__ import annotations

from typing import Any

from opentelemetry import context as otel_context
from opentelemetry.sdk._logs import LogRecordProcessor

from botanu._safety import report_internal
from botanu.context._baggage import botanu_entries
from botanu.export._delivery import DeliveryProcessor
from botanu.logs._fingerprint import FINGERPRINT
from botanu.logs._translate import EXCEPTION_MESSAGE, EXCEPTION_TYPE, add_text_fingerprint


class BotanuLogProcessor(LogRecordProcessor):
    """Enrich and deliver log records (see the module docstring).

    Args:
        delivery: The log records' :class:`~botanu.export.DeliveryProcessor`.
        console: Optional ``ConsoleTreeProcessor`` that prints records inside their trace tree.
    """

    def __init__(self, delivery: DeliveryProcessor, console: Any = None) -> None:
        self.delivery = delivery
        self.console = console
        self._offer = delivery.offer
        self._shut = False

    def on_emit(self, log_record: Any) -> None:
        if self._shut:
            return
        try:
            attributes = log_record.log_record.attributes
            # Membership tests on the plain dict behind the SDK's BoundedAttributes: its own
            # go through the abstract Mapping methods, several times slower.
            plain = getattr(attributes, "_dict", attributes)
            entries, _ = botanu_entries(otel_context.get_current())
            if entries and entries[0][0] not in plain:  # botanu's handler already added them
                for key, value in entries:
                    if key not in plain:
                        attributes[key] = value
            if (EXCEPTION_TYPE in plain or EXCEPTION_MESSAGE in plain) and FINGERPRINT not in plain:
                add_text_fingerprint(attributes)
        except Exception:  # a logging call must never raise because of botanu
            report_internal("enriching a log record")
        self._offer(log_record)
        if self.console is not None:
            try:
                self.console.on_log(log_record)
            except Exception:
                report_internal("printing a log record")

    emit = on_emit  # the SDK's older processor interface

    def shutdown(self) -> None:
        self._shut = True
        self.delivery.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.delivery.force_flush(timeout_millis)

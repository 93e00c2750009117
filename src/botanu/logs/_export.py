"""OTLP/HTTP export of log records: the span exporter's delivery rules, with logs' encoding.

Everything that makes span export dependable (retries per the OTLP spec, deadlines,
the spool, outage warnings, partial success) is inherited from
:class:`~botanu.export.OTLPHttpSpanExporter`; what differs is the request
(``ExportLogsServiceRequest`` to ``/v1/logs``), the books (``botanu.stats()["logs"]``)
and where redaction happens.

Redaction runs here, in :meth:`OTLPHttpLogExporter.prepare`, on the export thread
just before encoding, not in the app's ``logging`` call: every way a record leaves
the process (the live export, spilling while the collector is slow, spooling at exit)
goes through encoding, so none can skip it, and the app thread pays only for queueing.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Sequence
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.sdk._logs import ReadableLogRecord
from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult
from opentelemetry.sdk.resources import Resource

from botanu import _stats
from botanu._safety import warn_once
from botanu.export._otlp_http import OTLPHttpSpanExporter, read_partial_success
from botanu.redaction import Redactor
from botanu.redaction._replace import FAILED
from botanu.redaction._stats import STATS

logger = logging.getLogger("botanu")


class OTLPHttpLogExporter(OTLPHttpSpanExporter, LogRecordExporter):  # type: ignore[misc]
    """Send log records to an OTLP/HTTP collector (``.../v1/logs``) as gzip-compressed protobuf.

    Takes the same arguments as :class:`~botanu.export.OTLPHttpSpanExporter`, plus
    ``redactor``: applied to every record's body, attributes and resource before encoding
    (None: records are exported as they are).
    """

    ledger = _stats.logs

    def __init__(self, endpoint: str, *, redactor: Redactor | None = None, **kwargs: Any) -> None:
        super().__init__(endpoint, **kwargs)
        self.redactor = redactor
        self._resource_cache: tuple[Resource | None, Resource | None] = (None, None)

    def export(self, batch: Sequence[Any]) -> LogRecordExportResult:  # type: ignore[override]
        """The LogRecordExporter API, for use under any log processor."""
        outcome = self.deliver(batch)
        self.ledger.handled_directly(outcome.size, outcome.exported, outcome.spooled, outcome.dropped)
        return LogRecordExportResult.SUCCESS if outcome.complete else LogRecordExportResult.FAILURE

    def encode_request(self, items: Sequence[Any]) -> bytes:
        return self.encoder.logs(items)

    def partial_success(self, content: bytes) -> tuple[int, str]:
        return read_partial_success(content, ExportLogsServiceResponse(), "rejected_log_records")

    # ------------------------------------------------------------------ redaction

    def prepare(self, items: Sequence[Any]) -> Sequence[Any]:
        redactor = self.redactor
        if redactor is None:
            return items
        return [self._redacted(redactor, item) for item in items]

    def _redacted(self, redactor: Redactor, item: Any) -> Any:
        try:
            record = item.log_record
            # The plain dict behind the SDK's BoundedAttributes, read only: iterating it is C speed.
            plain = getattr(record.attributes, "_dict", record.attributes)
            body, attributes = redactor.redact_log(record.body, plain)
            resource = self._resource(redactor, item.resource)
            if body is record.body and attributes is plain and resource is item.resource:
                return item
            clean = copy.copy(record)  # the app's record object is never changed
            clean.body = body
            clean.attributes = attributes
            return ReadableLogRecord(
                clean, resource, item.instrumentation_scope, getattr(item, "limits", None)
            )
        except Exception as error:
            return _fail_closed(item, error)

    def _resource(self, redactor: Redactor, resource: Resource | None) -> Resource | None:
        cached = self._resource_cache
        if resource is None or cached[0] is resource:
            return cached[1] if resource is not None else None
        attributes = redactor.redact_attributes(resource.attributes)[0]
        clean = resource if attributes is resource.attributes else Resource(attributes, resource.schema_url)
        self._resource_cache = (resource, clean)
        return clean


def _fail_closed(item: Any, error: Exception) -> Any:
    """Redaction failed: export the record with its body and every string value replaced."""
    warn_once(
        ("redaction", "log-failed"),
        "botanu: redaction failed on a log record (%s); exporting it with its text replaced by %r",
        type(error).__name__,
        FAILED,
        level=logging.ERROR,
    )
    STATS.failure()
    record = copy.copy(item.log_record)
    record.body = FAILED
    record.attributes = {
        key: (FAILED if isinstance(value, (str, bytes, Sequence)) else value)
        for key, value in dict(record.attributes or {}).items()
    }
    record.attributes["botanu.redaction.rules"] = ("redaction_failed",)
    return ReadableLogRecord(record, item.resource, item.instrumentation_scope)

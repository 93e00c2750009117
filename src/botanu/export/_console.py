"""ConsoleTreeProcessor: print each finished trace as a readable tree on stderr.

Spans are gathered per trace as they end; when the trace's local root ends (a
span with no parent, or whose parent is in another process) the tree is printed.
It sits behind redaction, so it prints what would be exported. Memory is bounded:
at most ``max_traces`` open traces and ``max_spans`` spans per trace are kept.
"""

from __future__ import annotations

import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import IO, Any

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.trace import StatusCode

# Attributes worth showing after the span name, in this order, when present.
_SHOWN = (
    "botanu.run_id",
    "botanu.outcome.status",
    "botanu.outcome.reason",
    "botanu.customer_id",
    "botanu.event_id",
    "http.request.method",
    "url.full",
    "http.response.status_code",
    "botanu.redaction.count",
)
_SHORT_NAMES = {
    "botanu.run_id": "run",
    "botanu.outcome.status": "outcome",
    "botanu.outcome.reason": "reason",
    "botanu.customer_id": "customer",
    "botanu.event_id": "event",
    "http.request.method": "method",
    "url.full": "url",
    "http.response.status_code": "status",
    "botanu.redaction.count": "redacted",
}


class ConsoleTreeProcessor(SpanProcessor):
    """Print finished traces as trees (see the module docstring)."""

    def __init__(self, stream: IO[str] | None = None, max_traces: int = 256, max_spans: int = 500) -> None:
        self._stream = stream
        self._max_traces = max_traces
        self._max_spans = max_spans
        self._traces: OrderedDict[int, list[ReadableSpan]] = OrderedDict()
        self._records: OrderedDict[int, list[Any]] = OrderedDict()  # log records by trace id
        self._printed: OrderedDict[int, None] = OrderedDict()  # traces already shown
        self._lock = threading.Lock()
        # Log records are redacted on export, after this sees them: the log pipeline sets this
        # to the same redaction, so the console never shows what the collector would not get.
        self.redact_record: Callable[[Any], Any] = lambda record: record

    def on_log(self, record: Any) -> None:
        """Show a log record: inside its trace's tree when the trace is printed, else on its own line."""
        try:
            record = self.redact_record(record)
            trace_id = record.log_record.trace_id or 0
            with self._lock:
                if trace_id and trace_id not in self._printed:
                    kept = self._records.get(trace_id)
                    if kept is None:
                        kept = self._records[trace_id] = []
                        while len(self._records) > self._max_traces:
                            self._records.popitem(last=False)
                    if len(kept) < self._max_spans:
                        kept.append(record)
                    return
            self._print(_describe_record(record))
        except Exception:  # printing must never break a logging call
            pass

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        pass

    def on_end(self, span: ReadableSpan) -> None:
        try:
            trace_id = span.context.trace_id
            local_root = span.parent is None or span.parent.is_remote
            with self._lock:
                spans = self._traces.get(trace_id)
                if spans is None:
                    spans = self._traces[trace_id] = []
                    while len(self._traces) > self._max_traces:
                        self._traces.popitem(last=False)
                if len(spans) < self._max_spans:
                    spans.append(span)
                records: list[Any] = []
                if local_root:
                    self._traces.pop(trace_id, None)
                    records = self._records.pop(trace_id, [])
                    self._printed[trace_id] = None
                    while len(self._printed) > self._max_traces:
                        self._printed.popitem(last=False)
            if local_root:
                self._print(render_tree(spans, root=span, records=records))
        except Exception:  # printing must never break span.end()
            pass

    def _print(self, text: str) -> None:
        stream = self._stream or sys.stderr
        try:
            stream.write(text + "\n")
            stream.flush()
        except (OSError, ValueError):  # closed or broken stream at exit
            pass

    def shutdown(self) -> None:
        with self._lock:
            self._traces.clear()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def _describe(span: ReadableSpan) -> str:
    duration = ((span.end_time or 0) - (span.start_time or 0)) / 1e6
    parts = [span.name, f"{duration:.1f} ms"]
    status = span.status.status_code
    if status is StatusCode.ERROR:
        parts.append("ERROR" + (f" {span.status.description}" if span.status.description else ""))
    elif status is StatusCode.OK:
        parts.append("OK")
    attributes = span.attributes or {}
    for key in _SHOWN:
        if key in attributes:
            value = str(attributes[key])
            if len(value) > 80:
                value = value[:77] + "..."
            parts.append(f"{_SHORT_NAMES[key]}={value}")
    return "  ".join(parts)


def _describe_record(record: Any) -> str:
    log = record.log_record
    body = str(log.body)
    if len(body) > 120:
        body = body[:117] + "..."
    attributes = log.attributes or {}
    error = attributes.get("exception.type")
    return f"· {log.severity_text or 'LOG'} {body}" + (f"  [{error}]" if error else "")


def render_tree(spans: list[ReadableSpan], root: ReadableSpan, records: Sequence[Any] = ()) -> str:
    """Render ``spans`` (one trace) as an indented tree starting at ``root``, with its log records."""
    by_span: dict[int, list[Any]] = {}
    for record in records:
        by_span.setdefault(record.log_record.span_id or root.context.span_id, []).append(record)
    children: dict[int, list[ReadableSpan]] = {}
    for span in spans:
        if span.parent is not None and span is not root:
            children.setdefault(span.parent.span_id, []).append(span)
    for siblings in children.values():
        siblings.sort(key=lambda s: s.start_time or 0)
    lines = [f"trace {root.context.trace_id:032x}", _describe(root)]

    def walk(span: ReadableSpan, prefix: str) -> None:
        kids = children.get(span.context.span_id, [])
        logged = sorted(by_span.get(span.context.span_id, ()), key=lambda r: r.log_record.timestamp or 0)
        for record in logged:
            lines.append(prefix + ("│  " if kids else "   ") + _describe_record(record))
        for index, child in enumerate(kids):
            last = index == len(kids) - 1
            lines.append(prefix + ("└─ " if last else "├─ ") + _describe(child))
            walk(child, prefix + ("   " if last else "│  "))

    walk(root, "")
    return "\n".join(lines)

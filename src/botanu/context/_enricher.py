"""RunEnricher: stamps the run's identity from baggage onto every span started inside it."""

from __future__ import annotations

from opentelemetry import context
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor

from botanu.context._baggage import botanu_entries
from botanu.context._tracing import INSTRUMENTATION_NAME


class RunEnricher(SpanProcessor):
    """Copy ``botanu.*`` baggage entries onto each starting span as attributes.

    This is what attributes spans made by other instrumentations (HTTP clients,
    web frameworks, the user's own spans) to the run they happen in. Only keys
    the span does not already carry are added, in a single ``set_attributes`` call.
    botanu's own spans are skipped: they are created with these attributes.
    """

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        try:
            scope = span.instrumentation_scope
            if scope is not None and scope.name == INSTRUMENTATION_NAME:
                return
            entries, _ = botanu_entries(
                parent_context if parent_context is not None else context.get_current()
            )
            if not entries:
                return
            existing = span.attributes or {}
            missing = {key: value for key, value in entries if key not in existing}
            if missing:
                span.set_attributes(missing)
        except Exception:  # never let enrichment break span creation
            pass

    def on_end(self, span: ReadableSpan) -> None:
        pass

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True

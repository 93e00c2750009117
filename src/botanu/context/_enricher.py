"""RunEnricher: stamps the run's identity from baggage onto every span started inside it."""

from __future__ import annotations

from opentelemetry import context
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor

from botanu.context._attributes import stored_as_is
from botanu.context._baggage import botanu_attributes
from botanu.context._tracing import INSTRUMENTATION_NAME


class RunEnricher(SpanProcessor):
    """Copy ``botanu.*`` baggage entries onto each starting span as attributes.

    This is what attributes spans made by other instrumentations (HTTP clients,
    web frameworks, the user's own spans) to the run they happen in. Only keys
    the span does not already carry are added. botanu's own spans are skipped:
    they are created with these attributes.
    """

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        scope = span.instrumentation_scope
        if scope is None or scope.name != INSTRUMENTATION_NAME:
            self.enrich(span, parent_context)

    def enrich(self, span: Span, parent_context: Context | None = None) -> None:
        """Stamp ``span`` (not one of botanu's own: the caller checked) with the run's attributes."""
        try:
            ctx = parent_context if parent_context is not None else context.get_current()
            entries = botanu_attributes(ctx)
            if entries and not stored_as_is(span, entries, only_missing=True, all_text=True):
                existing = span.attributes or {}
                missing = {key: value for key, value in entries.items() if key not in existing}
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

"""RunEnricher: stamps the run's identity from baggage onto every span started inside it."""

from __future__ import annotations

from opentelemetry import context
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor

from botanu._run import RUN_BAGGAGE_KEYS
from botanu._tracing import INSTRUMENTATION_NAME, baggage_map

_Entries = tuple[tuple[str, str], ...]

_PREFIX = "botanu."
_USER_ID = "botanu.user_id"
_ENDUSER_ID = "enduser.id"


class RunEnricher(SpanProcessor):
    """Copy ``botanu.*`` baggage entries onto each starting span as attributes.

    This is what attributes spans made by other instrumentations (HTTP clients,
    web frameworks, the user's own spans) to the run they happen in. Only keys
    the span does not already carry are added, in a single ``set_attributes`` call.

    Baggage maps are immutable and shared by every span under the same context,
    so the ``botanu.*`` entries of the last map seen are cached by identity.
    """

    def __init__(self) -> None:
        self._cache: tuple[object, _Entries, _Entries] = (None, (), ())

    def _entries(self, ctx: Context) -> tuple[_Entries, _Entries]:
        """All ``botanu.*`` entries, and those beyond the run identity botanu's own spans carry."""
        current = baggage_map(ctx)
        cached_map, cached_all, cached_extra = self._cache
        if cached_map is current:
            return cached_all, cached_extra
        entries = tuple(
            (key, value if isinstance(value, str) else str(value))
            for key, value in current.items()
            if key.startswith(_PREFIX)
        )
        user = next((value for key, value in entries if key == _USER_ID), None)
        if user is not None:  # the OTel semantic convention for the end user, too
            entries = (*entries, (_ENDUSER_ID, user))
        extra = tuple(item for item in entries if item[0] not in RUN_BAGGAGE_KEYS)
        self._cache = (current, entries, extra)
        return entries, extra

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        try:
            entries, extra = self._entries(
                parent_context if parent_context is not None else context.get_current()
            )
            scope = span.instrumentation_scope
            if scope is not None and scope.name == INSTRUMENTATION_NAME:
                # botanu's run and step spans are created with their run identity already.
                entries = extra
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

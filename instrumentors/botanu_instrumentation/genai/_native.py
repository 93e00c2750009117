"""What a vendor SDK's own gen_ai span lacks of the current semconv, read off the ended span.

anthropic 2.x traces its calls itself (instrumentation scope ``com.anthropic.sdk.python``)
and botanu adds no second span for them. Those spans carry ``gen_ai.usage.input_tokens``
(cached tokens included), output, cache-read and reasoning tokens, but name the cache write
``gen_ai.usage.cache_write.input_tokens`` instead of ``gen_ai.usage.cache_creation.input_tokens``
and the stop reason ``anthropic.message.stop_reason`` instead of ``gen_ai.response.finish_reasons``.

botanu's anthropic instrumentor adds both while the SDK's span is open (see
``botanu_instrumentation.anthropic._native``). This function covers the spans it did not
complete (the instrumentor disabled, a raw response, an SDK path it does not know): a span
processor can merge its result into the copy it builds at the end (spans are immutable then).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import _attributes as A

ANTHROPIC_SCOPE = "com.anthropic.sdk.python"


def enrich_native_genai_span(span: Any) -> dict[str, Any] | None:
    """Attributes to add to an ended native gen_ai span (a ``ReadableSpan``), or None.

    Cheap for every other span: one look at the instrumentation scope. Never raises; never
    overrides an attribute the span already has.
    """
    try:
        scope = span.instrumentation_scope
        if scope is None or not scope.name.startswith(ANTHROPIC_SCOPE):
            return None
        attributes: Mapping[str, Any] = span.attributes or {}
        added: dict[str, Any] = {}
        written = attributes.get("gen_ai.usage.cache_write.input_tokens")
        if written is not None and A.USAGE_CACHE_CREATION not in attributes:
            added[A.USAGE_CACHE_CREATION] = written
        reason = attributes.get("anthropic.message.stop_reason")
        if type(reason) is str and A.RESPONSE_FINISH_REASONS not in attributes:
            added[A.RESPONSE_FINISH_REASONS] = [reason]
        return added or None
    except Exception:
        return None

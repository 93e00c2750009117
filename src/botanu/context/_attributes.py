"""Attributes written straight into a live SDK span, where the SDK would store them unchanged.

``Span.set_attributes`` checks every value (types, sequence homogeneity, length limits) before
storing it: for a handful of attributes that is several microseconds, as much as the rest of
what botanu adds to a span. botanu's own attributes (run identity from baggage, a model call's
response fields) are text, numbers, flags and lists of text, which that check would store as
they are (a list as a tuple). So when the span's limits cannot bite, they are stored directly,
under the same locks and with the same ordering rules; in every other case the caller takes
the public route.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry.attributes import BoundedAttributes

# Values the SDK stores exactly as given.
_SCALARS = frozenset({str, int, float, bool})
_TEXT = frozenset({str})


def stored_as_is(
    span: Any, attributes: Mapping[str, Any], only_missing: bool = False, *, all_text: bool = False
) -> bool:
    """Store ``attributes`` on a live SDK ``span`` directly; False (nothing stored) if it cannot.

    ``only_missing`` keeps the values the span already has (as the run enricher wants);
    otherwise a key already present is replaced and moves last, as ``set_attributes`` does.
    ``all_text``: the caller built ``attributes`` as non-empty text keys with text values
    (baggage entries), so they need no look.
    """
    held = getattr(span, "_attributes", None)
    if type(held) is not BoundedAttributes or held.max_value_len is not None:
        return False
    values = attributes if all_text else _as_stored(attributes)
    if values is None:
        return False
    with span._lock:  # as Span.set_attributes: not on an ended span
        if span._end_time is not None:
            return False
        with held._lock:
            if held._immutable:
                return False
            present = held._dict
            if held.maxlen is not None and len(present) + len(values) > held.maxlen:
                return False
            if present.keys().isdisjoint(values):
                present.update(values)
            elif only_missing:
                for key, value in values.items():
                    present.setdefault(key, value)
            else:
                for key, value in values.items():
                    present.pop(key, None)
                    present[key] = value
    return True


def scalar_items(attributes: Mapping[Any, Any]) -> bool:
    """True when every key is non-empty text and every value text, a number or a flag.

    The SDK stores such attributes (of spans and of log records) exactly as given.
    """
    return (
        "" not in attributes
        and _TEXT.issuperset(map(type, attributes))
        and _SCALARS.issuperset(map(type, attributes.values()))
    )


def _as_stored(attributes: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """``attributes`` as the SDK would store them, or None if it would change or refuse any."""
    if scalar_items(attributes):
        return attributes
    if "" in attributes or not _TEXT.issuperset(map(type, attributes)):
        return None
    stored: dict[str, Any] = {}
    for key, value in attributes.items():
        kind = type(value)
        if kind in _SCALARS:
            stored[key] = value
        elif (kind is list or kind is tuple) and value and all(type(item) is str for item in value):
            stored[key] = tuple(value)
        else:
            return None
    return stored

"""Turn user-supplied business data into span attributes, and user timestamps into span times.

Shared by flows (``data`` -> ``botanu.data.<key>``) and analytics (``properties``
-> ``botanu.properties.<key>``). OTel attributes are flat and typed, so:

* nested mappings become dotted keys (``{"card": {"brand": "visa"}}`` ->
  ``<prefix>card.brand``), down to :data:`MAX_DEPTH`;
* lists of one primitive type become arrays; anything else is JSON text;
* ``None`` values are left out (OTel has no null);
* the output is bounded: at most :data:`MAX_ATTRIBUTES` keys, strings cut at
  :data:`MAX_STRING_CHARS`, arrays cut at :data:`MAX_ARRAY_ITEMS`.

The values are *not* redacted here: the redacting span processor does that on
export for every attribute, these included.
"""

from __future__ import annotations

import json
import reprlib
from collections.abc import Mapping
from datetime import date, datetime, timezone
from datetime import time as dt_time
from typing import Any

from opentelemetry.context import Context, get_current

from botanu.context._baggage import botanu_entries

MAX_ATTRIBUTES = 64
MAX_DEPTH = 4
MAX_STRING_CHARS = 4096
MAX_ARRAY_ITEMS = 128
MAX_KEY_CHARS = 128
TRUNCATED_KEY = "_truncated"

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def flatten(prefix: str, data: Mapping[Any, Any]) -> dict[str, Any]:
    """Return ``data`` as OTel attributes whose keys start with ``prefix`` (see the module docstring).

    When keys had to be dropped to respect the bound, ``<prefix>_truncated`` says how many.
    """
    out: dict[str, Any] = {}
    dropped = _flatten_into(out, prefix, data, depth=1)
    if dropped:
        out[prefix + TRUNCATED_KEY] = dropped
    return out


def _flatten_into(out: dict[str, Any], prefix: str, data: Mapping[Any, Any], depth: int) -> int:
    dropped = 0
    for raw_key, value in data.items():
        if value is None:
            continue
        key = prefix + str(raw_key)[:MAX_KEY_CHARS]
        if isinstance(value, Mapping) and depth < MAX_DEPTH:
            dropped += _flatten_into(out, key + ".", value, depth + 1)
            continue
        if len(out) >= MAX_ATTRIBUTES:
            dropped += 1
            continue
        out[key] = attribute_value(value)
    return dropped


def attribute_value(value: Any) -> Any:
    """Convert one value to something an OTel attribute can hold."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if _INT64_MIN <= value <= _INT64_MAX else str(value)
    if isinstance(value, float):
        return value
    if isinstance(value, str):
        return _cut(value)
    if isinstance(value, (list, tuple)):
        array = _primitive_array(value)
        if array is not None:
            return array
    if isinstance(value, (Mapping, list, tuple, set, frozenset)):
        try:
            return _cut(_bounded_json(value))
        except (TypeError, ValueError):  # keys that cannot be sorted, circular references
            return _cut(reprlib.repr(value))
    return _cut(str(_json_default(value)))


def _bounded_json(value: Any) -> str:
    """JSON text of ``value``, produced only as far as the attribute keeps (a few KB).

    Encoding stops there, so a huge list or a structure that shares its parts many
    times over costs no more than a small one.
    """
    encoder = json.JSONEncoder(default=_json_default, ensure_ascii=False, sort_keys=True)
    parts: list[str] = []
    size = 0
    for chunk in encoder.iterencode(value):
        parts.append(chunk)
        size += len(chunk)
        if size > MAX_STRING_CHARS:
            break
    return "".join(parts)


def _primitive_array(values: list[Any] | tuple[Any, ...]) -> list[Any] | None:
    """The list as an OTel array if all items share one primitive type, else None."""
    if not values:
        return []
    items = list(values[:MAX_ARRAY_ITEMS])
    first = type(items[0])
    if first not in (str, bool, int, float) or any(type(item) is not first for item in items):
        return None
    if first is int and any(not _INT64_MIN <= item <= _INT64_MAX for item in items):
        return None
    if first is str:
        return [_cut(item) for item in items]
    return items


def _cut(text: str) -> str:
    return text if len(text) <= MAX_STRING_CHARS else text[:MAX_STRING_CHARS] + "...[truncated]"


def _json_default(value: object) -> object:
    """How values JSON does not know are written: dates as ISO-8601, bytes by size only, others as str()."""
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=repr)
    if isinstance(value, (bytes, bytearray)):
        return f"<{len(value)} bytes>"
    if isinstance(value, (datetime, date, dt_time)):
        return value.isoformat()
    return str(value)


def baggage_attributes(ctx: Context | None = None) -> dict[str, str]:
    """The ``botanu.*`` baggage entries of ``ctx`` (default: the current context) as attributes.

    The enricher skips spans from botanu's own tracer, so botanu spans made here
    carry the run identity (run id, workflow, customer ...) and session ids themselves.
    """
    entries, _ = botanu_entries(ctx if ctx is not None else get_current())
    return dict(entries)


# --------------------------------------------------------------------------- timestamps


class BadTimestamp(ValueError):
    """A timestamp that cannot be understood (the message says why)."""


def timestamp_ns(value: datetime | str | float | int) -> int:
    """Return ``value`` as Unix nanoseconds.

    Accepts a ``datetime`` (naive ones are taken as UTC, as the Serla SDK does),
    an ISO-8601 string (a trailing ``Z`` is fine) or Unix seconds as a number.
    Raises :class:`BadTimestamp` for anything else.
    """
    if isinstance(value, datetime):
        moment = value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)
        return _in_range(_to_ns(moment), value)
    if isinstance(value, str):
        text = value.strip()
        if text.endswith(("Z", "z")):  # fromisoformat() accepts "Z" only from Python 3.11
            text = text[:-1] + "+00:00"
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise BadTimestamp(f"{value!r} is not an ISO-8601 timestamp") from None
        return timestamp_ns(moment)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if value != value or value < 0:  # NaN or before 1970
            raise BadTimestamp(f"{value!r} is not a usable Unix time")
        try:
            return _in_range(int(value * 1_000_000_000), value)
        except OverflowError:  # infinity
            raise BadTimestamp(f"{value!r} is not a usable Unix time") from None
    raise BadTimestamp(f"expected a datetime, an ISO-8601 string or Unix seconds, got {type(value).__name__}")


# OTLP carries unsigned 64-bit nanoseconds: from 1970 to the year 2554. Anything outside would be
# rejected by the encoder at export, losing the span; a Unix time in milliseconds lands there too.
_MAX_NS = 2**64 - 1


def _in_range(nanoseconds: int, original: object) -> int:
    if not 0 <= nanoseconds <= _MAX_NS:
        raise BadTimestamp(
            f"{original!r} is outside the range OTLP can carry (1970 to 2554; seconds, not ms)"
        )
    return nanoseconds


def _to_ns(moment: datetime) -> int:
    delta = moment - datetime(1970, 1, 1, tzinfo=timezone.utc)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000

"""The protobuf wire format, as much of it as OTLP needs, written straight to bytes.

The stock OTLP encoder builds a tree of protobuf objects (one per span, attribute,
value, event...) and then serialises it; on a small machine that costs more CPU than
everything else the process does for a span. Here every message is written directly as
bytes: a field is its tag, its length (for strings and messages) and its payload, and a
message is the concatenation of its fields. See :mod:`botanu.export._encoder` for the
OTLP messages built from these parts.

Attribute values follow the stock encoder's meaning exactly (``bool`` before ``int``,
``None`` as an empty ``AnyValue``, sequences as ``ArrayValue``, mappings as
``KeyValueList`` with ``str`` keys); one attribute that cannot be encoded is left out
(as the stock encoder does), not its span. Two departures, both to keep data the stock
encoder loses: text with lone surrogates is sent with U+FFFD in their place (the stock
encoder fails on it), and a link's trace state is sent (the stock encoder leaves it out).
"""

from __future__ import annotations

import re
import struct
from collections.abc import Mapping, Sequence
from typing import Any

from botanu._safety import warn_once

_SMALL = tuple(bytes((n,)) for n in range(128))
_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1
fixed64 = struct.Struct("<Q").pack
fixed32 = struct.Struct("<I").pack
_double = struct.Struct("<d").pack

# AnyValue's fields (common.proto): string 1, bool 2, int 3, double 4, array 5, kvlist 6, bytes 7.
_TRUE, _FALSE = b"\x10\x01", b"\x10\x00"
_SURROGATE = re.compile("[\ud800-\udfff]")

# Encoded attributes are cached for scalar values (text up to this length): keys and most
# values repeat from span to span (run ids, methods, routes, model names), so most attributes
# cost two dictionary lookups. Each level is emptied when full, which bounds the memory
# (at most CACHE_KEYS * CACHE_VALUES_PER_KEY entries of a few hundred bytes).
CACHED_VALUE_LEN = 128
CACHE_KEYS = 256
CACHE_VALUES_PER_KEY = 64


def varint(n: int) -> bytes:
    """``n`` as a protobuf varint (negative numbers as 64-bit two's complement, as int64 is)."""
    if 0 <= n < 128:
        return _SMALL[n]
    if n < 0:
        n += 1 << 64
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def field(tag: bytes, payload: bytes) -> bytes:
    """A length-delimited field: ``tag``, the payload's length, the payload."""
    size = len(payload)
    if size < 128:
        return tag + _SMALL[size] + payload
    if size < 16384:
        return tag + bytes(((size & 0x7F) | 0x80, size >> 7)) + payload
    return tag + varint(size) + payload


def utf8(text: str) -> bytes:
    """``text`` as UTF-8; lone surrogates (invalid in UTF-8, so a collector would refuse the
    whole request) become U+FFFD, and the rest of the text is kept."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return _SURROGATE.sub("\ufffd", text).encode("utf-8")  # one U+FFFD each (not one per byte)


def text_field(tag: bytes, text: str) -> bytes:
    return field(tag, utf8(text))


def any_value(value: Any) -> bytes:
    """The ``AnyValue`` message for ``value`` (raises for a type OTLP cannot carry)."""
    kind = type(value)
    if kind is str:
        return field(b"\x0a", utf8(value))
    if kind is bool:
        return _TRUE if value else _FALSE
    if kind is int:
        return b"\x18" + _int64(value)
    if kind is float:
        return b"\x21" + _double(value)
    return _other_value(value)


def _other_value(value: Any) -> bytes:
    # Subclasses (IntEnum, numpy scalars registered as numbers, str subclasses...) in the stock order.
    if value is None:
        return b""
    if isinstance(value, bool):
        return _TRUE if value else _FALSE
    if isinstance(value, str):  # its text, as protobuf takes it (str() of a str enum is "Enum.NAME")
        return field(b"\x0a", utf8(str.__str__(value)))
    if isinstance(value, int):
        return b"\x18" + _int64(int(value))
    if isinstance(value, float):
        return b"\x21" + _double(float(value))
    if isinstance(value, bytes):
        return field(b"\x3a", bytes(value))
    if isinstance(value, Sequence):
        return field(b"\x2a", b"".join([field(b"\x0a", any_value(item)) for item in value]))
    if isinstance(value, Mapping):
        return field(
            b"\x32", b"".join([field(b"\x0a", key_value(str(key), item)) for key, item in value.items()])
        )
    raise TypeError(f"a {type(value).__name__} value cannot be exported")


def _int64(value: int) -> bytes:
    if not _INT64_MIN <= value <= _INT64_MAX:
        raise OverflowError(f"{value} does not fit in a 64-bit integer")
    return varint(value)


def key_value(key: str, value: Any) -> bytes:
    """The ``KeyValue`` message ``key = value``."""
    return field(b"\x0a", utf8(key)) + field(b"\x12", any_value(value))


class Attributes:
    """Encodes attribute maps as repeated ``KeyValue`` fields, remembering frequent ones.

    One instance per exporter; used from whichever thread encodes (the caches are plain
    dicts, whose single get and set are atomic).
    """

    def __init__(self) -> None:
        # Per field tag, per key, per value: the whole field (tag, length, KeyValue).
        self._caches: dict[bytes, dict[Any, dict[Any, bytes]]] = {}

    def encode(self, tag: bytes, attributes: Mapping[str, Any] | None) -> bytes:
        """``attributes`` as repeated ``tag`` fields, each a ``KeyValue``."""
        out: list[bytes] = []
        if attributes:
            self.encode_into(out, tag, attributes)
        return b"".join(out)

    def encode_into(self, out: list[bytes], tag: bytes, attributes: Mapping[str, Any]) -> None:
        """Append the fields of :meth:`encode` to ``out``."""
        cache = self._caches.get(tag)
        if cache is None:
            cache = self._caches.setdefault(tag, {})
        # The SDK's BoundedAttributes wraps a dict: iterate that (C speed, read only).
        for key, value in getattr(attributes, "_dict", attributes).items():
            kind = type(value)
            # Cached by key, then by value: text by itself, other scalars with their type
            # (True == 1 == 1.0 as dict keys). Long text, containers and float zeros
            # (0.0 == -0.0) are not cached.
            if kind is str:
                value_key: Any = value if len(value) <= CACHED_VALUE_LEN else None
            elif kind is int or kind is bool or (kind is float and value):
                value_key = (value, kind)
            else:
                value_key = None
            by_value = cache.get(key) if value_key is not None else None
            entry = by_value.get(value_key) if by_value is not None else None
            if entry is None:
                try:
                    entry = field(tag, key_value(key, value))
                except Exception as error:  # as the stock encoder: this attribute is left out, not the item
                    _skipped(key, error)
                    continue
                if value_key is not None:
                    self._remember(cache, key, value_key, entry)
            out.append(entry)

    def _remember(self, cache: dict[Any, dict[Any, bytes]], key: Any, value_key: Any, entry: bytes) -> None:
        by_value = cache.get(key)
        if by_value is None:
            if len(cache) >= CACHE_KEYS:
                cache.clear()
            by_value = cache[key] = {}
        elif len(by_value) >= CACHE_VALUES_PER_KEY:
            by_value.clear()  # a key with ever-new values (ids, amounts): its cache stays small
        by_value[value_key] = entry


def _skipped(key: Any, error: Exception) -> None:
    warn_once(
        ("encode-attribute", type(error)),
        "botanu: an attribute could not be encoded for export and was left out (%r: %s: %s)",
        key,
        type(error).__name__,
        error,
    )

"""The on-disk format of one spooled batch, and the names spool files carry.

A spool file is a 29-byte header followed by the payload, exactly the bytes of
one OTLP/HTTP request body (gzip-compressed when the exporter compresses)::

    magic "BOTANUS1" | flags u8 | item count u32 | created (unix ms) u64 | length u32 | crc32 u32 | payload

The flags say gzip (0x01) and whether the payload holds log records (0x02) or spans.

The CRC covers the header fields and the payload, and with the length it means a
file cut short or damaged anywhere (a flipped gzip flag included) is recognised as
corrupt and never replayed as if whole (writes also go through a temp file and a rename).

Names sort oldest first and say who wrote the file and how many spans it holds,
so the spool can be trimmed without reading files (a file another process wrote
is counted by its name only when its header says the same, see
:func:`header_span_count`)::

    ready     0001712345678901-<writer>-<seq, 10 digits>-<spans>.otlp
    leased    <ready name>.lease-<host>-<pid>     (renamed atomically by the one process replaying it)
    writing   .<writer>-<seq>-<pid>.tmp          (never read; removed when its writer is gone)
"""

from __future__ import annotations

import re
import struct
import zlib
from dataclasses import dataclass

MAGIC = b"BOTANUS1"
_HEADER = struct.Struct(">8sBIQII")
HEADER_SIZE = _HEADER.size
FLAG_GZIP = 0x01
FLAG_LOGS = 0x02  # the payload is an ExportLogsServiceRequest (else ExportTraceServiceRequest)
_KNOWN_FLAGS = FLAG_GZIP | FLAG_LOGS
_FIELDS = struct.Struct(">BIQI")  # the header fields the checksum covers besides the payload
READY_SUFFIX = ".otlp"
LEASE_MARK = ".lease-"
TEMP_SUFFIX = ".tmp"

# The span count is the header's u32: a name claiming more is not a spool file.
_READY = re.compile(r"^(\d{16})-([0-9a-f]{12})-(\d+)-(\d{1,10})\.otlp$")
_MAX_SPANS = 0xFFFFFFFF
_LEASE = re.compile(r"^(.+\.otlp)\.lease-([A-Za-z0-9_.-]*)-(\d+)$")
_TEMP = re.compile(r"^\.([0-9a-f]{12})-(\d+)-(\d+)\.tmp$")


class CorruptSpoolFile(ValueError):
    """A spool file whose header or checksum does not match its content."""


@dataclass(frozen=True)
class SpoolName:
    """What a ready file's name says about it."""

    name: str
    created_ms: int
    writer: str
    seq: int
    span_count: int


def ready_name(created_ms: int, writer: str, seq: int, span_count: int) -> str:
    return f"{created_ms:016d}-{writer}-{seq:010d}-{span_count}{READY_SUFFIX}"


def parse_ready(name: str) -> SpoolName | None:
    match = _READY.match(name)
    if match is None or int(match.group(4)) > _MAX_SPANS:
        return None
    return SpoolName(name, int(match.group(1)), match.group(2), int(match.group(3)), int(match.group(4)))


def lease_name(ready: str, host: str, pid: int) -> str:
    return f"{ready}{LEASE_MARK}{host}-{pid}"


def parse_lease(name: str) -> tuple[str, str, int] | None:
    """``(ready name, host, pid)`` of a leased file."""
    match = _LEASE.match(name)
    if match is None:
        return None
    return match.group(1), match.group(2), int(match.group(3))


def temp_name(writer: str, seq: int, pid: int) -> str:
    return f".{writer}-{seq}-{pid}{TEMP_SUFFIX}"


def temp_pid(name: str) -> int | None:
    match = _TEMP.match(name)
    return int(match.group(3)) if match else None


def encode(payload: bytes, span_count: int, created_ms: int, *, gzipped: bool, logs: bool = False) -> bytes:
    """Header + payload, ready to be written (``logs``: the payload holds log records, not spans)."""
    flags = (FLAG_GZIP if gzipped else 0) | (FLAG_LOGS if logs else 0)
    crc = _checksum(flags, span_count, created_ms, payload)
    return _HEADER.pack(MAGIC, flags, span_count, created_ms, len(payload), crc) + payload


def _checksum(flags: int, span_count: int, created_ms: int, payload: bytes) -> int:
    return zlib.crc32(payload, zlib.crc32(_FIELDS.pack(flags, span_count, created_ms, len(payload))))


@dataclass(frozen=True)
class SpoolRecord:
    payload: bytes
    span_count: int
    created_ms: int
    gzipped: bool
    signal: str = "traces"


def header_span_count(head: bytes) -> int | None:
    """The span count in a file's header (its first :data:`HEADER_SIZE` bytes), or None if it has none.

    Cheap (the payload is not checked): enough to tell a botanu file from a stray one named like it.
    """
    if len(head) < HEADER_SIZE:
        return None
    magic, _, span_count, _, _, _ = _HEADER.unpack_from(head)
    return span_count if magic == MAGIC else None


def header_signal(head: bytes) -> str | None:
    """``"traces"`` or ``"logs"`` from a file's header, or None if it is not a botanu spool file."""
    if len(head) < HEADER_SIZE:
        return None
    magic, flags, _, _, _, _ = _HEADER.unpack_from(head)
    if magic != MAGIC:
        return None
    return "logs" if flags & FLAG_LOGS else "traces"


def decode(data: bytes) -> SpoolRecord:
    """Parse and verify a whole file; raise :class:`CorruptSpoolFile` if anything is off."""
    if len(data) < HEADER_SIZE:
        raise CorruptSpoolFile("shorter than the header")
    magic, flags, span_count, created_ms, length, crc = _HEADER.unpack_from(data)
    if magic != MAGIC:
        raise CorruptSpoolFile("not a botanu spool file")
    payload = data[HEADER_SIZE:]
    if len(payload) != length:
        raise CorruptSpoolFile(f"expected {length} payload bytes, found {len(payload)}")
    if flags & ~_KNOWN_FLAGS:
        raise CorruptSpoolFile(f"unknown flags {flags:#x}")
    if _checksum(flags, span_count, created_ms, payload) != crc:
        raise CorruptSpoolFile("checksum mismatch")
    signal = "logs" if flags & FLAG_LOGS else "traces"
    return SpoolRecord(payload, span_count, created_ms, bool(flags & FLAG_GZIP), signal)

"""Error fingerprints: one stable id per kind of failure, for grouping errors into issues.

``botanu.error.fingerprint`` is the first 32 hex digits of a SHA-256 over:

1. the exception type, ``module.qualname`` (builtins by bare name), as OTel's ``exception.type``;
2. the message with its variable parts replaced by placeholders: UUIDs, e-mail addresses,
   URLs, IP addresses, timestamps, hex strings, quoted values and numbers;
3. up to five frames as ``module:function`` (no line numbers, so an edit elsewhere in a file
   keeps the id), innermost first, the application's frames before library frames; consecutive
   repeats (recursion) count once, and only the innermost 64 frames are read (from a stack trace
   text, its last 64 KB).

A frame's module is derived from its file path, the same way for a live traceback and for
a stack trace read back from a span's ``exception.stacktrace`` text, so a log record and a
span about one failure carry one fingerprint: below ``site-packages``/``dist-packages`` it is
the dotted path from there (``requests.adapters``); elsewhere the last two path parts
(``shop.checkout``). Library frames are those under ``site-packages``/``dist-packages`` or in
the standard library. Nothing host-specific (absolute paths, line numbers, ids) enters the
digest, so the id is the same across processes, hosts and restarts.
"""

from __future__ import annotations

import hashlib
import re
import sysconfig
import traceback
from collections.abc import Iterable
from types import TracebackType

FINGERPRINT = "botanu.error.fingerprint"
_FRAMES = 5
_MESSAGE_LIMIT = 2048  # enough to tell messages apart; bounds the normalisation's cost
_FRAMES_READ = 64  # innermost frames read from a traceback, live or as text
_STACK_TEXT_LIMIT = 64 * 1024  # the tail of a stack trace text that is read (64 frames fit easily)

# Order matters: wider shapes first, so an e-mail is not eaten as "word@<num>".
_NORMALISERS = (
    (
        re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"),
        "<uuid>",
    ),
    (re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"), "<email>"),
    (re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://\S+"), "<url>"),
    (
        re.compile(r"\b\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?"),
        "<ts>",
    ),
    (re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b"), "<ip>"),
    # 0x..., or a run of 8+ hex digits mixing digits and letters (object ids, digests, tokens)
    (
        re.compile(r"\b0x[0-9a-fA-F]+\b|\b(?=[0-9a-fA-F]*\d)(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{8,}\b"),
        "<hex>",
    ),
    (re.compile(r"'[^'\n]{0,200}'|\"[^\"\n]{0,200}\""), "<str>"),
    (re.compile(r"[-+]?\d+(?:[.,]\d+)*"), "<num>"),
)
_LIBRARY_MARKERS = ("site-packages", "dist-packages")
_STDLIB = tuple(
    path.replace("\\", "/").rstrip("/") + "/"
    for path in {sysconfig.get_paths().get("stdlib", ""), sysconfig.get_paths().get("platstdlib", "")}
    if path
)
# A frame line of Python's traceback text: File "path", line N, in function
_FRAME_LINE = re.compile(r'^\s*File "([^"]+)", line \d+, in (\S+)', re.MULTILINE)


def normalise_message(message: str) -> str:
    """``message`` with its variable parts (ids, numbers, quoted values...) replaced by placeholders."""
    text = message[:_MESSAGE_LIMIT]
    for pattern, placeholder in _NORMALISERS:
        text = pattern.sub(placeholder, text)
    return " ".join(text.split())


def _module_of(filename: str) -> str:
    path = filename.replace("\\", "/")
    for marker in _LIBRARY_MARKERS:
        index = path.rfind(f"/{marker}/")
        if index >= 0:
            return _dotted(path[index + len(marker) + 2 :].split("/"))
    return _dotted(path.split("/")[-2:])


def _dotted(parts: list[str]) -> str:
    parts = [part for part in parts if part]
    if parts:
        last = parts[-1]
        parts[-1] = last[:-3] if last.endswith(".py") else last
        if parts[-1] == "__init__" and len(parts) > 1:
            parts.pop()
    return ".".join(parts)


def _is_library(filename: str) -> bool:
    path = filename.replace("\\", "/")
    if any(f"/{marker}/" in path for marker in _LIBRARY_MARKERS):
        return True
    # Another host's stdlib cannot be checked by path; a "/lib/pythonX.Y/" part is the same tell.
    return path.startswith(_STDLIB) or re.search(r"/lib/python\d+(?:\.\d+)?/", path) is not None


def _top_frames(frames: Iterable[tuple[str, str]]) -> list[str]:
    """Innermost first; application frames before library frames; at most five."""
    innermost_first = list(frames)[::-1]
    app = [f"{_module_of(f)}:{fn}" for f, fn in innermost_first if not _is_library(f)]
    library = [f"{_module_of(f)}:{fn}" for f, fn in innermost_first if _is_library(f)]
    return (app + library)[:_FRAMES]


def _digest(exception_type: str, message: str, frames: list[str]) -> str:
    material = "\n".join((exception_type, normalise_message(message), *frames))
    return hashlib.sha256(material.encode("utf-8", "replace")).hexdigest()[:32]


def type_name(kind: type) -> str:
    """``module.qualname`` as OTel's ``exception.type`` spells it (builtins by bare name)."""
    module = getattr(kind, "__module__", None)
    qualname = getattr(kind, "__qualname__", None) or getattr(kind, "__name__", "Exception")
    return f"{module}.{qualname}" if module and module != "builtins" else qualname


def frames_of(tb: TracebackType | None, limit: int = _FRAMES_READ) -> list[tuple[str, str]]:
    """(file, function) of a traceback's frames, outermost first, at most ``limit`` innermost ones."""
    summary = traceback.extract_tb(tb) if tb is not None else []
    return _repeats_once((frame.filename, frame.name) for frame in summary)[-limit:]


def _repeats_once(frames: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """Consecutive repeats of a frame (recursion) as one: Python's traceback text prints a
    repeated frame three times and then only counts the rest, so the live and text paths agree
    only once repeats are collapsed."""
    out: list[tuple[str, str]] = []
    for frame in frames:
        if not out or out[-1] != frame:
            out.append(frame)
    return out


def fingerprint_exception(error: BaseException) -> str:
    """The fingerprint of a live exception (its type, message and traceback)."""
    return _digest(type_name(type(error)), _safe_str(error), _top_frames(frames_of(error.__traceback__)))


def fingerprint_text(exception_type: str, message: str, stacktrace: str) -> str:
    """The fingerprint from exported text: ``exception.type``, ``.message`` and ``.stacktrace``.

    Gives the same id as :func:`fingerprint_exception` for the same failure, since Python's
    traceback text names the same files and functions, outermost first. With several chained
    exceptions in the text, the frames of the last one (the one raised) are used.
    """
    # Only the innermost frames count (as for a live traceback, :func:`frames_of`), and they are
    # at the end of the text: reading its tail bounds the cost whatever the text's size.
    tail = stacktrace[-_STACK_TEXT_LIMIT:]
    blocks = re.split(r"\n\s*\n(?:During handling|The above exception)[^\n]*\n\s*\n", tail)
    frames = [(m.group(1), m.group(2)) for m in _FRAME_LINE.finditer(blocks[-1])]
    return _digest(exception_type, message, _top_frames(_repeats_once(frames)[-_FRAMES_READ:]))


def fingerprint_stack(exception_type: str, message: str, frames: list[tuple[str, str]]) -> str:
    """The fingerprint of an error described without an exception (a message and a call stack)."""
    return _digest(exception_type, message, _top_frames(frames))


def _safe_str(error: BaseException) -> str:
    try:
        return str(error)
    except Exception:  # an exception whose __str__ raises
        return ""

"""Guard rails that keep botanu from hurting the host application.

Two rules live here:

* bad input from the user gets one clear warning per call site and a no-op, or a
  :class:`BotanuUsageError` when strict mode is on (``BOTANU_STRICT=1`` or
  ``botanu.init(strict=True)``), which is what tests and development want;
* botanu's own failures are logged once and swallowed (:func:`contain`), never
  raised into user code.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

logger = logging.getLogger("botanu")

_T = TypeVar("_T")

_TRUE = {"1", "true", "yes", "on"}
_strict_override: bool | None = None
_warned: set[object] = set()
_warned_lock = threading.Lock()
# A bound on remembered warning keys: a program that misuses the API from
# generated code must not grow this set forever.
_MAX_WARNED = 4096


class BotanuUsageError(ValueError):
    """Raised for bad input to botanu's API, but only in strict mode."""


def strict_mode() -> bool:
    """Return True when misuse should raise instead of warn."""
    if _strict_override is not None:
        return _strict_override
    return os.environ.get("BOTANU_STRICT", "").strip().lower() in _TRUE


def set_strict(value: bool | None) -> None:
    """Force strict mode on or off; ``None`` goes back to ``BOTANU_STRICT``."""
    global _strict_override
    _strict_override = value


def warn_once(key: object, message: str, *args: object, level: int = logging.WARNING) -> None:
    """Log ``message`` the first time ``key`` is seen in this process."""
    with _warned_lock:
        if key in _warned:
            return
        if len(_warned) >= _MAX_WARNED:
            _warned.clear()
        _warned.add(key)
    logger.log(level, message, *args)


def reset_warnings() -> None:
    """Forget which warnings were already given (for tests)."""
    with _warned_lock:
        _warned.clear()


def user_call_site() -> tuple[str, int]:
    """Return (file, line) of the first frame outside botanu's own package."""
    frame = sys._getframe(1)
    while frame is not None:
        filename = frame.f_code.co_filename
        if not _is_botanu_file(filename):
            return filename, frame.f_lineno
        frame = frame.f_back  # type: ignore[assignment]
    return "<unknown>", 0


_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep
# Frames in these files belong to botanu or to the machinery it is called through.
_SKIPPED_SUFFIXES = (os.sep + "contextlib.py", os.sep + "functools.py")


@functools.lru_cache(maxsize=256)
def _is_botanu_file(filename: str) -> bool:
    return os.path.abspath(filename).startswith(_PACKAGE_DIR) or filename.endswith(_SKIPPED_SUFFIXES)


class _Shown:
    """A user's value in a log message: its repr/str, or a stand-in if those raise."""

    __slots__ = ("value",)

    def __init__(self, value: object) -> None:
        self.value = value

    def _render(self, render: Callable[[object], str]) -> str:
        try:
            text = render(self.value)
        except Exception:
            return f"<{type(self.value).__name__} object>"
        return text if len(text) <= 200 else text[:197] + "..."

    def __repr__(self) -> str:
        return self._render(repr)

    def __str__(self) -> str:
        return self._render(str)


# Values whose formatting cannot fail (exact types: a subclass may override __repr__).
_PLAIN = frozenset({str, int, float, bool, type(None)})


def safe_repr(value: object) -> str:
    """``repr(value)`` cut to 200 characters, or ``<Type object>`` when the user's ``__repr__`` raises.

    For messages about the user's values: describing a bad value must not raise.
    """
    return repr(_Shown(value))


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def valid_text(text: str) -> str:
    """``text`` with lone surrogates (from untrusted JSON, say) replaced by U+FFFD.

    They cannot be encoded as UTF-8: left in, they would drop the attribute from the baggage, or
    the whole span at export. ASCII text (nearly every id) is returned at C speed.
    """
    if text.isascii():
        return text
    return _LONE_SURROGATE.sub("\ufffd", text)


def safe_text(value: object) -> str | None:
    """``str(value)``, or None when the user's ``__str__`` raises."""
    try:
        return str(value)
    except Exception:
        return None


def misuse(message: str, *args: object, site: tuple[str, int] | None = None) -> None:
    """Report bad input: raise in strict mode, else warn once per user call site.

    The user's values are formatted defensively: a raising ``__repr__`` must not
    turn a warning into an error.
    """
    shown = tuple(arg if type(arg) in _PLAIN else _Shown(arg) for arg in args)
    if strict_mode():
        raise BotanuUsageError(message % shown if shown else message)
    where = site or user_call_site()
    warn_once(("misuse", where, message), "botanu: " + message + " (at %s:%d)", *shown, *where)


def contain(what: str, default: _T) -> Callable[[Callable[..., _T]], Callable[..., _T]]:
    """Decorate an internal function so its failures are logged once and swallowed.

    ``what`` names the operation in the log line; ``default`` is returned instead.
    Strict mode does not change this: strict is about the user's input, while a
    failure here is botanu's own bug and must never break the app.
    """

    def decorate(fn: Callable[..., _T]) -> Callable[..., _T]:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> _T:
            try:
                return fn(*args, **kwargs)
            except BotanuUsageError:
                raise
            except Exception:
                warn_once(
                    ("internal", what), "botanu: internal error in %s (ignored)", what, level=logging.ERROR
                )
                logger.debug("botanu: internal error in %s", what, exc_info=True)
                return default

        return wrapper

    return decorate


def report_internal(what: str) -> None:
    """Log botanu's own failure once (call it from an ``except`` block)."""
    warn_once(("internal", what), "botanu: internal error in %s (ignored)", what, level=logging.ERROR)
    logger.debug("botanu: internal error in %s", what, exc_info=True)


@contextmanager
def contained(what: str) -> Iterator[None]:
    """Context-manager form of :func:`contain` for a block of internal code.

    Hot paths use ``try: ... except Exception: report_internal(...)`` instead,
    which costs nothing when no error happens.
    """
    try:
        yield
    except BotanuUsageError:
        raise
    except Exception:
        report_internal(what)


def _after_fork_in_child() -> None:
    global _warned_lock
    _warned_lock = threading.Lock()  # a lock held by another thread at fork() would stay held


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)

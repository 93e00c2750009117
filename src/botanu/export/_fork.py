"""Fork safety and the ``os._exit`` route out of worker processes.

Two facts shape this module:

* after ``fork()`` only the calling thread exists in the child, and any lock
  another thread held is held forever: every botanu object that owns threads or
  locks re-creates them in the child (:func:`after_fork_in_child`);
* forked workers usually leave through ``os._exit`` (multiprocessing's fork and
  forkserver children, billiard/celery prefork, many hand-written ``os.fork()``
  loops), which skips ``atexit``. In forked children (and in multiprocessing
  children) ``os._exit`` is wrapped so that botanu's delivery processors flush,
  within their exit budget, before the process ends (:func:`flush_before_os_exit`).
  The parent process's ``os._exit`` is left alone: there it means "now".
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import weakref
from collections.abc import Callable
from typing import Any, Protocol


class _ExitFlusher(Protocol):
    def flush_before_exit(self) -> None: ...


_flushers: weakref.WeakSet[Any] = weakref.WeakSet()
_install_lock = threading.Lock()
_installed = False
_inner_exit: Callable[[int], Any] | None = None
_ORIGINAL_EXIT = os._exit


def after_fork_in_child(method: Callable[[], None]) -> None:
    """Call the bound ``method`` in every forked child for as long as its object lives."""
    if not hasattr(os, "register_at_fork"):
        return
    weak = weakref.WeakMethod(method)  # type: ignore[arg-type]

    def hook() -> None:
        bound = weak()
        if bound is None:
            return
        with contextlib.suppress(Exception):  # a fork must never fail because of botanu
            bound()

    os.register_at_fork(after_in_child=hook)


def flush_before_os_exit(flusher: _ExitFlusher) -> None:
    """Have ``flusher.flush_before_exit()`` run before ``os._exit`` in forked and multiprocessing children."""
    global _installed
    _flushers.add(flusher)
    if _installed:
        return
    with _install_lock:
        if _installed:
            return
        _installed = True
    if hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=_wrap_os_exit)
    if _in_multiprocessing_child():  # created inside a worker (spawn, or init() after fork)
        _wrap_os_exit()


def _in_multiprocessing_child() -> bool:
    multiprocessing = sys.modules.get("multiprocessing")
    return multiprocessing is not None and multiprocessing.parent_process() is not None


def _wrap_os_exit() -> None:
    global _inner_exit
    if os._exit is _exit_after_flush:
        return
    _inner_exit = os._exit
    os._exit = _exit_after_flush


def _exit_after_flush(status: int) -> None:
    """``os._exit`` that first gives botanu's processors their bounded exit flush."""
    try:
        for flusher in list(_flushers):
            with contextlib.suppress(Exception):
                flusher.flush_before_exit()
    finally:
        (_inner_exit or _ORIGINAL_EXIT)(status)

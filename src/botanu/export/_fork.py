"""Fork safety, and the ways out of a process that skip ``atexit``.

Three facts shape this module:

* after ``fork()`` only the calling thread exists in the child, and any lock
  another thread held is held forever: every botanu object that owns threads or
  locks re-creates them in the child (:func:`after_fork_in_child`);
* worker processes usually leave through ``os._exit`` (multiprocessing's fork and
  forkserver children, billiard/celery prefork, many hand-written ``os.fork()``
  loops), which skips ``atexit``. In forked children and in multiprocessing or
  billiard workers ``os._exit`` is wrapped so that botanu's exit work runs, within
  its budget, before the process ends. The main process's ``os._exit`` is left
  alone: there it means "now";
* servers that catch SIGTERM for a graceful shutdown often end by putting the
  default handler back and raising the signal again (uvicorn does), so the process
  dies of it and ``atexit`` never runs. ``signal.raise_signal`` and
  ``os.kill(os.getpid(), ...)`` are wrapped: when the signal is one that asks a
  process to end (SIGTERM, SIGINT, SIGHUP) and its disposition is the default one,
  botanu's exit work runs first. No signal handler is installed or chained: a
  handler changes what a signal does for the whole app, these wrappers only act
  when the process has already decided to die.

The exit work is every hook given to :func:`on_exit_without_atexit` (the pipeline's
own exit: flow verdicts, flush, the loss line), then ``flush_before_exit()`` of every
delivery processor given to :func:`flush_before_os_exit` (those of a pipeline
assembled by hand). Each is idempotent, so running it twice costs nothing. It runs
on a thread of its own, waited for at most its budget (see :func:`_run_exit_work`).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import weakref
from collections.abc import Callable, Iterator
from typing import Any, Protocol


class _ExitFlusher(Protocol):
    def flush_before_exit(self) -> None: ...


_flushers: weakref.WeakSet[Any] = weakref.WeakSet()
_exit_hooks: list[Callable[[], object]] = []
_install_lock = threading.Lock()
_installed = False
_inner_exit: Callable[[int], Any] | None = None
_ORIGINAL_EXIT = os._exit
_inner_raise_signal: Callable[[int], None] = signal.raise_signal
_inner_kill: Callable[[int, int], None] = os.kill

# Signals whose default action ends the process and that mean "please stop", not "crash":
# SIGQUIT and SIGABRT (core dumps) and SIGKILL are left alone.
_ENDING_SIGNALS = frozenset(
    getattr(signal, name) for name in ("SIGTERM", "SIGINT", "SIGHUP") if hasattr(signal, name)
)


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
    """Have ``flusher.flush_before_exit()`` run on the ways out that skip ``atexit`` (see the module doc)."""
    _flushers.add(flusher)
    _install()


def on_exit_without_atexit(hook: Callable[[], object]) -> None:
    """Run ``hook()`` (bounded, idempotent) on the ways out that skip ``atexit``, before the flushers."""
    with _install_lock:
        if hook not in _exit_hooks:
            _exit_hooks.append(hook)
    _install()


def _install() -> None:
    global _installed
    if _installed:
        return
    with _install_lock:
        if _installed:
            return
        _installed = True
    if hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=_wrap_os_exit)
    if _in_worker_process():  # created inside a worker (spawn, or init() after fork)
        _wrap_os_exit()
    _wrap_signal_raising()


def _in_worker_process() -> bool:
    """True in a multiprocessing or billiard (celery prefork) child process."""
    multiprocessing = sys.modules.get("multiprocessing")
    if multiprocessing is not None and multiprocessing.parent_process() is not None:
        return True
    # billiard has no parent_process(); its main process object is the only one without a
    # parent pid. Looked up only if the app imported it: botanu never imports billiard.
    billiard_process = sys.modules.get("billiard.process")
    if billiard_process is None:
        return False
    try:
        return getattr(billiard_process.current_process(), "_parent_pid", None) is not None
    except Exception:  # another billiard than the one this was written against
        return False


def _run_exit_work() -> None:
    """Run the exit work on a thread of its own and wait for it at most its budget.

    The caller may be a signal handler (``os._exit`` or a re-raise from a SIGTERM handler) that
    interrupted botanu's own code on this very thread while it held one of botanu's locks. Run
    here, the work would wait for that lock forever and the process would never end; on its own
    thread it waits at most the budget, then the process ends anyway.
    """
    worker = threading.Thread(target=_exit_work, name="botanu-exit", daemon=True)
    try:
        worker.start()
    except RuntimeError:  # the interpreter is shutting down: no new threads
        _exit_work()
        return
    worker.join(_exit_budget())
    if worker.is_alive():
        _report_unfinished_exit()


def _report_unfinished_exit() -> None:
    """The exit work ran out of time: say what the process leaves behind, whatever holds the locks."""
    with contextlib.suppress(Exception):
        from botanu import _stats

        line = _stats.loss_summary(wait=0.2)
        if line:
            # Straight to stderr: logging's own locks may be held by the thread this interrupted.
            sys.stderr.write(line + "\n")
            sys.stderr.flush()


def _exit_work() -> None:
    with exiting():
        for hook in list(_exit_hooks):
            with contextlib.suppress(Exception):
                hook()
        for flusher in list(_flushers):
            with contextlib.suppress(Exception):
                flusher.flush_before_exit()


def _exit_budget() -> float:
    """The flushers' exit budget (``shutdown_timeout``), plus a second to spool what is left."""
    budgets = [getattr(flusher, "exit_timeout", 0.0) for flusher in list(_flushers)]
    budget = max((b for b in budgets if isinstance(b, (int, float))), default=5.0)
    return min(float(budget), threading.TIMEOUT_MAX / 2) + 1.0


# --------------------------------------------------------------------------- os._exit


def _wrap_os_exit() -> None:
    global _inner_exit
    if os._exit is _exit_after_flush:
        return
    _inner_exit = os._exit
    os._exit = _exit_after_flush


def _exit_after_flush(status: int) -> None:
    """``os._exit`` that first gives botanu its bounded exit work."""
    try:
        _run_exit_work()
    finally:
        (_inner_exit or _ORIGINAL_EXIT)(status)


# --------------------------------------------------------------------------- a re-raised signal


def _wrap_signal_raising() -> None:
    global _inner_raise_signal, _inner_kill
    if signal.raise_signal is not _raise_signal_after_flush:
        _inner_raise_signal = signal.raise_signal
        signal.raise_signal = _raise_signal_after_flush
    if os.kill is not _kill_after_flush:
        _inner_kill = os.kill
        os.kill = _kill_after_flush


def _raise_signal_after_flush(signalnum: int) -> None:
    """``signal.raise_signal`` that first gives botanu its exit work when the signal will end the process."""
    if _ends_process(signalnum) and not _blocked_here(signalnum):  # raise_signal targets this thread
        _run_exit_work()
    _inner_raise_signal(signalnum)


def _kill_after_flush(pid: int, signalnum: int) -> None:
    """``os.kill`` that first gives botanu its exit work when the process signals itself to end."""
    if type(pid) is int and pid == os.getpid() and _ends_process(signalnum):
        _run_exit_work()
    _inner_kill(pid, signalnum)


def _ends_process(signalnum: int) -> bool:
    """Whether ``signalnum`` delivered now ends the process: a stopping signal with its default action."""
    try:
        if not isinstance(signalnum, int) or signalnum not in _ENDING_SIGNALS:
            return False
        if signal.getsignal(signalnum) is not signal.SIG_DFL:
            return False
    except Exception:  # a bad argument: the original function reports it to the caller
        return False
    return True


def _blocked_here(signalnum: int) -> bool:
    """Whether the calling thread blocks ``signalnum`` (then ``raise_signal`` does not deliver it now).

    Not asked for ``os.kill``: a signal sent to the process goes to any thread that takes it.
    """
    try:
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, ()) if hasattr(signal, "pthread_sigmask") else ()
        return signalnum in mask
    except Exception:
        return False


# --------------------------------------------------------------------------- SIGTERM from outside

# Signals a supervisor sends to say "stop" (docker stop, systemd, Kubernetes): their default action
# ends the process at once, skipping atexit and every span still queued.
_STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))
_stop_handled: set[int] = set()


def install_stop_handlers() -> list[str]:
    """Give SIGTERM (and SIGHUP) botanu's exit work where nobody handles them; return their names.

    Only a signal whose disposition is still the default one is taken, and only from the main
    thread (where Python runs signal handlers): an app or server that installs its own handler,
    before or after this, keeps full control, and its normal exit path flushes through atexit.
    botanu's handler runs the exit work (bounded by its budget, on a thread of its own), puts the
    default disposition back and raises the signal again, so the process still dies of it, with
    the same status, within the budget.
    """
    if threading.current_thread() is not threading.main_thread():
        return []
    taken = []
    for signum in _STOP_SIGNALS:
        try:
            if signal.getsignal(signum) is signal.SIG_DFL:
                signal.signal(signum, _on_stop_signal)
                _stop_handled.add(signum)
                taken.append(signal.Signals(signum).name)
        except (ValueError, OSError):  # not the main interpreter, or the platform refuses
            continue
    _install()
    return taken


def remove_stop_handlers() -> None:
    """Put the default disposition back where botanu's handler is still the one installed."""
    if threading.current_thread() is not threading.main_thread():
        return
    for signum in list(_stop_handled):
        with contextlib.suppress(ValueError, OSError):
            if signal.getsignal(signum) is _on_stop_signal:
                signal.signal(signum, signal.SIG_DFL)
        _stop_handled.discard(signum)


@contextlib.contextmanager
def exiting() -> Iterator[None]:
    """Mark botanu's exit work as running here (the atexit hook, the exit thread).

    A stop signal landing meanwhile must not start the exit work a second time: its handler
    runs on top of the interrupted exit, which may hold the very locks the second one needs.
    It is deferred instead, and raised when the exit work is done.
    """
    _exit_depth.append(None)
    try:
        yield
    finally:
        _exit_depth.pop()
        if not _exit_depth and _deferred_signals:
            signum = _deferred_signals.pop()
            _deferred_signals.clear()
            _die_of(signum)


_exit_depth: list[None] = []  # non-empty while the exit work runs (a list: appends are atomic)
_deferred_signals: list[int] = []


def _on_stop_signal(signum: int, frame: object) -> None:
    if _exit_depth:
        _deferred_signals.append(signum)  # the exit under way ends the process when it is done
        return
    try:
        _run_exit_work()
    finally:
        _die_of(signum)


def _die_of(signum: int) -> None:
    """Put the signal's default action back and raise it: the process ends as it would have."""
    with contextlib.suppress(ValueError, OSError):
        signal.signal(signum, signal.SIG_DFL)
    _stop_handled.discard(signum)
    _inner_raise_signal(signum)  # not the wrapper: the exit work has just run

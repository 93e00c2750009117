"""What the exit says and what a flush returns stay true in the corner cases: spans ended after
shutdown, items still in memory, and a SIGTERM landing while botanu's own lock is held."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time

import botanu
from botanu import _stats
from tests.delivery.conftest import ROOT


def test_spans_ended_after_shutdown_are_counted_and_flush_says_so(botanu_init, otlp_receiver):
    botanu_init()
    botanu.shutdown(2)
    with botanu.event(event_id="late", customer_id="c", workflow="Late"):
        pass
    stats = botanu.stats()
    assert stats["dropped"] == {"after_shutdown": 1} and stats["balanced"], stats
    assert botanu.force_flush(1) is False  # the late span was not delivered
    assert botanu.force_flush(1) is True  # nothing new was lost since


def test_the_loss_line_names_items_still_in_memory():
    _stats.reset()
    with _stats.lock:
        _stats.spans.queued_locked(5)
    try:
        line = _stats.loss_summary()
        assert line is not None and "5 span(s) were not delivered" in line
        assert "5 still in memory" in line
    finally:
        _stats.reset()


HELD_LOCK = textwrap.dedent(
    """
    import os, signal, sys, time
    import botanu
    from botanu import _stats
    botanu.init(endpoint=sys.argv[1], instrumentations=False, shutdown_timeout=1)
    for i in range(10):
        with botanu.event(event_id=f"e{i}", customer_id="c", workflow="Held"):
            pass
    print("ready", flush=True)
    with _stats.lock:  # as if the signal landed inside botanu's on_end
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(30)
    """
)


def test_sigterm_while_botanus_lock_is_held_ends_within_the_budget_and_says_so(otlp_receiver):
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-c", HELD_LOCK, otlp_receiver.endpoint],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    elapsed = time.monotonic() - started
    assert result.returncode == -signal.SIGTERM, result.stderr
    assert elapsed < 1 + 1 + 3, elapsed  # shutdown_timeout + the exit work's second + start-up
    assert "the exit flush did not finish in time" in result.stderr


APP_HANDLER_SHUTDOWN = textwrap.dedent(
    """
    import os, signal, sys, time
    import botanu
    from botanu import _stats
    botanu.init(endpoint=sys.argv[1], instrumentations=False, shutdown_timeout=1)

    def stop(signum, frame):
        print("shutdown returned", botanu.shutdown(1), flush=True)
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    with botanu.event(event_id="e", customer_id="c", workflow="Held"):
        pass
    with _stats.lock:  # the signal lands while the main thread is inside botanu's on_end
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(30)
    """
)


def test_shutdown_from_an_app_signal_handler_is_bounded_even_when_botanus_lock_is_held(otlp_receiver):
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-c", APP_HANDLER_SHUTDOWN, otlp_receiver.endpoint],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    elapsed = time.monotonic() - started
    assert "shutdown returned False" in result.stdout, (result.stdout, result.stderr)
    assert elapsed < 1 + 1 + 1 + 5, elapsed  # the shutdown's budget, then the exit's, then start-up

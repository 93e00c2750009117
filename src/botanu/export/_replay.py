"""Replaying the spool in the background, oldest file first.

The replayer is one daemon thread per process. It wakes up at start-up, after
every delivered export (the collector is up: a good moment to catch up), when a
probe of a down collector is due, and now and then to pick up files other
processes left behind. It never runs on the app's thread and ``init()`` never
waits for it.

Each file is leased before it is sent (see :class:`~botanu.export._spool.Spool`),
so processes sharing a spool never send the same file twice. A file is sent
once per try; when the collector fails retryably the file goes back and the
collector's health decides when to try again (``Retry-After`` and backoff
included), so a collector that is still down is probed, not hammered.
"""

from __future__ import annotations

import threading

from botanu._safety import report_internal
from botanu.export._fork import after_fork_in_child
from botanu.export._spool import Spool

# When idle, how often the spool is looked at anyway (files from other processes).
IDLE_INTERVAL = 30.0


# Statuses that reject the request body itself: replaying that file again cannot succeed.
_PAYLOAD_REJECTED = frozenset({400, 413, 415, 422})


class Replayer:
    """Send spooled requests through ``exporter`` (an ``OTLPHttpSpanExporter``)."""

    def __init__(self, spool: Spool, exporter: object, *, idle_interval: float = IDLE_INTERVAL) -> None:
        self.spool = spool
        self.exporter = exporter
        self._idle = idle_interval
        self._stopped = False
        self._init_process_state()
        after_fork_in_child(self._init_process_state)

    def _init_process_state(self) -> None:
        # In a forked child: the parent's thread (and any file it leased) stay the parent's;
        # ours starts on the next kick.
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def kick(self) -> None:
        """Look at the spool soon (starts the thread on first use)."""
        if self._stopped:
            return
        self._wake.set()
        if self._thread is None:
            with self._lock:
                if self._thread is None and not self._stopped:
                    thread = threading.Thread(target=self._run, name="botanu-replay", daemon=True)
                    try:
                        thread.start()
                    except RuntimeError:  # interpreter shutting down
                        return
                    self._thread = thread

    start = kick

    def stop(self, timeout: float = 0.05) -> None:
        """Stop after the current file (a file being sent is released by its own attempt's end)."""
        self._stopped = True
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def _run(self) -> None:
        while not self._stopped:
            try:
                progressed = self.replay_one()
            except Exception:
                report_internal("replaying the spool")
                progressed = False
            if progressed:
                continue
            health = self.exporter.health  # type: ignore[attr-defined]
            pause = health.seconds_until_probe() if health.failed_recently() else self._idle
            self._wake.wait(max(0.01, min(pause, self._idle)))
            self._wake.clear()

    def replay_one(self) -> bool:
        """Try the oldest spooled file once; True if it left the spool (keep going)."""
        exporter = self.exporter
        if exporter.health.is_down():  # type: ignore[attr-defined]
            return False
        claim = self.spool.claim_oldest()
        if claim is None:
            return False
        try:
            result = exporter.send_payload(  # type: ignore[attr-defined]
                claim.record.payload, claim.span_count, gzipped=claim.record.gzipped, window=0.0
            )
        except BaseException:
            self.spool.release(claim)
            raise
        if result.delivered:
            self.spool.complete(claim, rejected=min(result.rejected_spans, claim.span_count))
            return True
        if result.retryable or result.status not in _PAYLOAD_REJECTED:
            # Down, or refused for reasons of its own (401/403/404 of a misconfigured endpoint, a
            # closed session): the file is fine, so keep it for after the next successful export
            # rather than emptying the whole spool against a wrong endpoint.
            self.spool.release(claim)
            return False
        self.spool.discard(claim, "not_retryable")  # the collector rejects this payload itself
        return True

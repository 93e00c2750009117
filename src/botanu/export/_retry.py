"""When to try the collector again: backoff, ``Retry-After``, and the collector's health.

Two clocks are involved:

* within one export request, failed attempts are retried with full-jitter
  exponential backoff for at most ``RetryPolicy.window`` seconds (the OTLP
  specification's retryable cases: 429, 502, 503, 504, connection failures);
  ``Retry-After`` can lengthen a pause, never shorten it;
* across requests, :class:`CollectorHealth` remembers that the collector is
  down and until when, so further batches go straight to the spool instead of
  each waiting out its own retries, and only one probe at a time tests whether
  it is back.
"""

from __future__ import annotations

import email.utils
import random
import threading
import time
from dataclasses import dataclass
from datetime import timezone

RETRYABLE_STATUSES = frozenset({429, 502, 503, 504})
# A server asking for a longer pause than this is probed again anyway: a bad
# header must not silence export for days.
MAX_RETRY_AFTER = 300.0


@dataclass(frozen=True)
class RetryPolicy:
    """Timing of retries. The defaults suit production; tests shrink them.

    Attributes:
        window: Seconds during which one batch is retried before it is spooled.
        base: Ceiling of the first backoff; doubles per attempt up to ``cap``.
        cap: Largest backoff between two attempts of one batch.
        probe_base: Pause after a batch failed before the collector is tried again.
        probe_cap: Largest such pause while the collector stays down.
    """

    window: float = 15.0
    base: float = 0.5
    cap: float = 8.0
    probe_base: float = 1.0
    probe_cap: float = 30.0

    def backoff(self, attempt: int) -> float:
        """Pause before attempt ``attempt + 1``: uniform in [ceiling / 2, ceiling]."""
        ceiling = min(self.cap, self.base * (2 ** min(attempt - 1, 30)))
        return random.uniform(ceiling / 2, ceiling)

    def pause(self, attempt: int, retry_after: float | None = None) -> float:
        """Pause before attempt ``attempt + 1``: the backoff, or longer if ``Retry-After`` asked for it.

        ``Retry-After`` never shortens the backoff: "0", or a date already past, from a
        throttling collector must not turn the retries into a busy loop.
        """
        backoff = self.backoff(attempt)
        return backoff if retry_after is None else max(backoff, retry_after)

    def probe_delay(self, failures_in_a_row: int) -> float:
        """Pause before probing a collector that failed ``failures_in_a_row`` times."""
        ceiling = min(self.probe_cap, self.probe_base * (2 ** min(failures_in_a_row - 1, 30)))
        return random.uniform(ceiling / 2, ceiling)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():  # "²".isdigit() is True, but float() rejects it
        return min(float(value), MAX_RETRY_AFTER)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT; a naive parse means the zone was omitted
        when = when.replace(tzinfo=timezone.utc)
    seconds = when.timestamp() - (time.time() if now is None else now)
    return min(max(0.0, seconds), MAX_RETRY_AFTER)


class CollectorHealth:
    """Thread-safe memory of whether the collector is reachable (a simple circuit breaker)."""

    def __init__(self, policy: RetryPolicy) -> None:
        self._policy = policy
        self._lock = threading.Lock()
        self._failures = 0
        self._down_until = 0.0

    def record_success(self) -> bool:
        """Note a delivered request; return True if the collector was down before."""
        with self._lock:
            was_down = self._failures > 0
            self._failures = 0
            self._down_until = 0.0
        return was_down

    def record_failure(self, retry_after: float | None = None) -> bool:
        """Note a request that failed retryably; return True if the collector was up before."""
        with self._lock:
            was_up = self._failures == 0
            self._failures += 1
            pause = self._policy.probe_delay(self._failures)
            if retry_after is not None:
                pause = max(pause, retry_after)
            self._down_until = time.monotonic() + pause
        return was_up

    def is_down(self) -> bool:
        """True while the collector failed recently and its next probe is not due yet."""
        return self._failures > 0 and time.monotonic() < self._down_until

    def failed_recently(self) -> bool:
        """True from a failure until the next success (even when a probe is due)."""
        return self._failures > 0

    def seconds_until_probe(self) -> float:
        return max(0.0, self._down_until - time.monotonic()) if self._failures else 0.0

    def after_fork(self) -> None:
        self._lock = threading.Lock()

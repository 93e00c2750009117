"""OTLP/HTTP (protobuf) span exporter with honest results, bounded retries and a spool.

It writes the OTLP protobuf request directly from the SDK's spans (see
:mod:`botanu.export._encoder`, a fraction of the stock encoder's CPU), sends it with
a lean ``http.client`` transport (:mod:`botanu.export._transport`), and differs from
the stock exporter where botanu users need it to:

* retries follow the OTLP specification (429, 502, 503, 504 and connection
  failures) with jittered exponential backoff, and honour ``Retry-After``
  (seconds or HTTP date) when it asks for a longer pause; other statuses are
  not retried (logged once);
* every wait is bounded by a deadline that flush and shutdown can shorten, so
  the app never hangs on exit because the collector is down;
* what could not be delivered goes to the spool (when one is attached) instead of
  being lost, and while the collector is known to be down further batches go
  straight there instead of each waiting out its own retries;
* a partial-success response is surfaced (one warning per process) and counted,
  not taken as full success;
* one span that cannot be encoded costs that span, not its whole batch;
* an unreachable collector is reported in one warning per outage, not per batch,
  saying what became of the batch that found it down (spooled, or why not);
* the API key is sent only to the configured endpoint (no redirects, no proxies
  or netrc from the environment).
"""

from __future__ import annotations

import http.client
import logging
import socket
import threading
import time
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from opentelemetry.instrumentation.utils import suppress_http_instrumentation, suppress_instrumentation
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from botanu import _stats
from botanu._safety import warn_once
from botanu._version import __version__
from botanu.export._encoder import Encoder
from botanu.export._fork import after_fork_in_child
from botanu.export._outcome import Outcome
from botanu.export._retry import RETRYABLE_STATUSES, CollectorHealth, RetryPolicy, parse_retry_after
from botanu.export._spool import Spool
from botanu.export._transport import Transport
from botanu.redaction import without_secrets

logger = logging.getLogger("botanu")

USER_AGENT = f"botanu/{__version__} (OTLP/HTTP protobuf)"
REFUSED = "connection refused"
# Waits are sliced so that a shutdown, a shorter deadline or queue pressure is noticed promptly.
_WAIT_SLICE = 0.05

__all__ = ["RETRYABLE_STATUSES", "Delivery", "OTLPHttpSpanExporter"]


@dataclass(frozen=True)
class Delivery:
    """The result of sending one encoded export request."""

    delivered: bool
    # True when trying again later may succeed (collector down, throttled).
    retryable: bool
    reason: str
    status: int | None = None
    attempts: int = 1
    rejected_spans: int = 0
    # What the collector asked for with Retry-After, in seconds.
    retry_after: float | None = None
    # The collector's partial-success message (a rejection's reason, or a warning), if any.
    message: str = ""


@dataclass(frozen=True)
class Attempt:
    """One batch after its network attempts, before its fate is settled (spool or drop)."""

    size: int
    payload: bytes
    span_count: int
    unencodable: int
    delivery: Delivery
    # Set when the batch was split and its halves already settled (see OTLPHttpSpanExporter._split).
    settled: Outcome | None = None


class OTLPHttpSpanExporter(SpanExporter):
    """Send spans to an OTLP/HTTP collector as gzip-compressed protobuf.

    Args:
        endpoint: The full traces URL, e.g. ``http://localhost:4318/v1/traces``.
        headers: Extra request headers (already resolved from settings).
        api_key: Sent as ``Authorization: Bearer <key>``, to this endpoint only.
        compression: ``gzip`` (default) or ``none``.
        timeout: Seconds for one HTTP attempt.
        retry_window: Seconds during which one batch is retried (overrides ``retry.window``).
        retry: Backoff and probing timings (:class:`RetryPolicy`).
        spool: Where undeliverable batches are kept for replay (None: they are dropped).
        max_request_bytes: Largest request body sent (compressed, as sent); a larger batch is split,
            and a single item larger than this is dropped as ``too_large``. A collector answering
            413 (payload too large) gets the batch again in halves, down to the one item it refuses.
    """

    # The books this exporter's items are kept in (log records have their own).
    ledger: _stats.Ledger = _stats.spans

    def __init__(
        self,
        endpoint: str,
        *,
        headers: Mapping[str, str] | None = None,
        api_key: str | None = None,
        compression: str = "gzip",
        timeout: float = 10.0,
        retry_window: float | None = None,
        retry: RetryPolicy | None = None,
        spool: Spool | None = None,
        max_request_bytes: int = 8 * 1024 * 1024,
    ) -> None:
        self.endpoint = endpoint
        self.max_request_bytes = max_request_bytes
        self.encoder = Encoder()
        # For log lines: a key in the URL never reaches the log.
        self._shown_endpoint = without_secrets(endpoint)
        self._compression = compression
        self._timeout = timeout
        policy = retry or RetryPolicy()
        self.retry = policy if retry_window is None else replace(policy, window=retry_window)
        self.health = CollectorHealth(self.retry)
        self.spool = spool
        # Called after every delivered request (the replayer listens: the collector is up).
        self.after_delivery: Callable[[], None] | None = None
        self._headers = {"Content-Type": "application/x-protobuf", "User-Agent": USER_AGENT}
        for key, value in (headers or {}).items():
            self._headers[key] = value
        if api_key and not any(k.lower() == "authorization" for k in self._headers):
            self._headers["Authorization"] = f"Bearer {api_key}"
        self._gzip_headers = {**self._headers, "Content-Encoding": "gzip"}
        self._closing = threading.Event()
        self._deadline: float | None = None
        self._exiting = False
        self._transport = self._new_transport(endpoint)
        # The reason of an outage whose warning waits until its batch's fate is known (see _record).
        self._unannounced: str | None = None
        self._announce_lock = threading.Lock()
        after_fork_in_child(self._after_fork_in_child)

    @staticmethod
    def _new_transport(endpoint: str) -> Transport | Exception:
        # Exactly what was configured, to where it was configured: no proxy, netrc or redirect.
        try:
            return Transport(endpoint)
        except Exception as error:  # reported by each export attempt, which fails without retrying
            return error

    def _after_fork_in_child(self) -> None:
        if isinstance(self._transport, Transport):
            self._transport.after_fork_in_child()
        self.health.after_fork()
        self._deadline = None
        self._unannounced = None
        self._announce_lock = threading.Lock()
        closing, self._closing = self._closing, threading.Event()
        if closing.is_set():
            self._closing.set()

    # ----------------------------------------------------------------- SpanExporter

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """The SpanExporter API, for use under any span processor (accounted as handed over directly)."""
        outcome = self.deliver(spans)
        self.ledger.handled_directly(outcome.size, outcome.exported, outcome.spooled, outcome.dropped)
        return SpanExportResult.SUCCESS if outcome.complete else SpanExportResult.FAILURE

    def shutdown(self) -> None:
        self._closing.set()
        self._announce_outage(None, fate="counted in botanu.stats()")  # one found at exit is still told
        if isinstance(self._transport, Transport):
            self._transport.close()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True

    # ----------------------------------------------------------------- delivering spans

    def deliver(self, spans: Sequence[ReadableSpan], *, hurry: threading.Event | None = None) -> Outcome:
        """Send ``spans``; spool or drop what cannot be delivered; say what became of each span."""
        return self.conclude(self.attempt(spans, hurry=hurry))

    def attempt(self, spans: Sequence[ReadableSpan], *, hurry: threading.Event | None = None) -> Attempt:
        """Encode and send ``spans`` (first half of :meth:`deliver`; nothing is spooled yet).

        ``hurry``, when set, cuts the retries short: the caller needs the batch settled now.
        """
        body, count = self._encode(spans)
        payload = self._compress(body) if count else b""
        if len(payload) > self.max_request_bytes:
            return self._split(spans, hurry)
        if not count:
            delivery = Delivery(True, False, "nothing to send", attempts=0)
        elif self.spool is not None and self.health.is_down():
            # Known down and the next probe is not due: straight to the spool, no waiting.
            delivery = Delivery(False, True, "the collector is down (waiting to try again)", attempts=0)
        else:
            # After a failure only one attempt per batch: the spool and the replayer do the retrying.
            window = 0.0 if self.spool is not None and self.health.failed_recently() else None
            delivery = self.send_payload(
                payload,
                count,
                gzipped=self._compression == "gzip",
                hurry=hurry,
                window=window,
                announce_outage=False,  # conclude() says what became of the batch
            )
            if delivery.status == 413:
                return self._split(spans, hurry)
        return Attempt(len(spans), payload, count, len(spans) - count, delivery)

    def _split(self, items: Sequence[Any], hurry: threading.Event | None) -> Attempt:
        """Send a batch too large for one request as two halves, each settled on its own.

        Down to one item: an item too large on its own is dropped (``too_large``), and its
        neighbours are delivered.
        """
        if len(items) <= 1:
            if items:
                warn_once(
                    ("too-large", self.ledger.noun),
                    "botanu: a %s too large for one request (max_request_bytes=%d, or refused by the "
                    "collector with 413) was dropped (counted in botanu.stats() as 'too_large')",
                    self.ledger.noun,
                    self.max_request_bytes,
                )
            outcome = Outcome.lost(len(items), "too_large")
        else:
            middle = len(items) // 2
            outcome = self.conclude(self.attempt(items[:middle], hurry=hurry)).plus(
                self.conclude(self.attempt(items[middle:], hurry=hurry))
            )
        return Attempt(len(items), b"", 0, 0, Delivery(True, False, "split"), settled=outcome)

    def conclude(self, attempt: Attempt) -> Outcome:
        """Settle an :meth:`attempt`: count what was delivered, spool or drop the rest."""
        if attempt.settled is not None:
            return attempt.settled
        dropped: dict[str, int] = {}
        if attempt.unencodable:
            dropped["encode_error"] = attempt.unencodable
        delivery = attempt.delivery
        if delivery.delivered:
            rejected = min(delivery.rejected_spans, attempt.span_count)
            if rejected:
                dropped["rejected_by_collector"] = rejected
            return Outcome(attempt.size, exported=attempt.span_count - rejected, dropped=dropped)
        undelivered = self.on_undelivered(attempt.payload, attempt.span_count, delivery)
        for reason, count in undelivered.dropped.items():
            dropped[reason] = dropped.get(reason, 0) + count
        return Outcome(attempt.size, spooled=undelivered.spooled, dropped=dropped)

    def on_undelivered(self, payload: bytes, span_count: int, result: Delivery) -> Outcome:
        """Keep an undelivered request in the spool when trying again later may succeed."""
        if not result.retryable:
            return Outcome.lost(span_count, "not_retryable")
        if self.spool is None:
            self._announce_outage(None)
            return Outcome.lost(span_count, "collector_unavailable")
        refused = self.spool.put(payload, span_count, gzipped=self._compression == "gzip")
        self._announce_outage(refused)
        if refused is not None:
            return Outcome.lost(span_count, refused)
        return Outcome(span_count, spooled=span_count)

    def spool_spans(self, spans: Sequence[ReadableSpan], reason_if_lost: str = "shutdown_timeout") -> Outcome:
        """Encode ``spans`` and write them to the spool without trying the network (exit is near)."""
        if self.spool is None:
            return Outcome.lost(len(spans), reason_if_lost)
        body, count = self._encode(spans)
        dropped = {"encode_error": len(spans) - count} if len(spans) > count else {}
        if not count:
            return Outcome(len(spans), dropped=dropped)
        payload = self._compress(body)
        if len(payload) > self.max_request_bytes:
            # Spool files are replayed as they are: each must fit in one request too.
            if len(spans) == 1:
                return Outcome.lost(1, "too_large")
            middle = len(spans) // 2
            return self.spool_spans(spans[:middle], reason_if_lost).plus(
                self.spool_spans(spans[middle:], reason_if_lost)
            )
        refused = self.spool.put(payload, count, gzipped=self._compression == "gzip")
        self._announce_outage(refused)
        if refused is not None:
            dropped[refused] = dropped.get(refused, 0) + count
            return Outcome(len(spans), dropped=dropped)
        return Outcome(len(spans), spooled=count, dropped=dropped)

    def _encode(self, spans: Sequence[Any]) -> tuple[bytes, int]:
        """Encode a batch; if it fails, find and leave out only the items that cannot be encoded."""
        spans = self.prepare(spans)
        try:
            return self.encode_request(spans), len(spans)
        except Exception as error:
            first_error: Exception = error
        good = []
        for span in spans:
            try:
                self.encode_request([span])
            except Exception:
                continue
            good.append(span)
        warn_once(
            ("encode", type(first_error)),
            "botanu: %d %s(s) could not be encoded for export (%s: %s); they are dropped",
            len(spans) - len(good),
            self.ledger.noun,
            type(first_error).__name__,
            first_error,
        )
        if not good:
            return b"", 0
        return self.encode_request(good), len(good)

    def prepare(self, items: Sequence[Any]) -> Sequence[Any]:
        """The items as they are to be encoded (spans arrive already redacted)."""
        return items

    def encode_request(self, items: Sequence[Any]) -> bytes:
        """The serialised OTLP export request for ``items``."""
        return self.encoder.spans(items)

    def partial_success(self, content: bytes) -> tuple[int, str]:
        """How many items the collector's answer rejects, and its message."""
        return _partial_success(content)

    def _compress(self, body: bytes) -> bytes:
        # Level 1: on OTLP batches it costs a third of level 6's CPU for about 3 % more bytes
        # (mostly ids, which do not compress at any level); CPU is what the app pays for.
        return zlib.compress(body, 1, wbits=31) if self._compression == "gzip" else body

    # ----------------------------------------------------------------- deadlines

    def begin_exit(self) -> None:
        """The process is on its way out: a refused connection is not retried any more."""
        self._exiting = True

    def set_deadline(self, deadline: float | None) -> None:
        """Bound every attempt and backoff by ``deadline`` (a ``time.monotonic()`` value)."""
        self._deadline = deadline

    # ----------------------------------------------------------------- sending bytes

    def send(self, body: bytes, span_count: int = 0) -> Delivery:
        """Send one encoded ``ExportTraceServiceRequest``, retrying as the spec allows."""
        return self.send_payload(self._compress(body), span_count, gzipped=self._compression == "gzip")

    def send_payload(
        self,
        payload: bytes,
        span_count: int,
        *,
        gzipped: bool,
        hurry: threading.Event | None = None,
        window: float | None = None,
        announce_outage: bool = True,
    ) -> Delivery:
        """Send a ready request body; retry retryable failures within ``window`` seconds.

        ``window`` defaults to the policy's; 0 means one attempt. Every attempt and
        pause also ends by the deadline set with :meth:`set_deadline`. With
        ``announce_outage`` False, the warning for an outage this request finds waits
        until the caller spools (or drops) the request, so that it can say which.
        """
        headers = self._gzip_headers if gzipped else self._headers
        window = self.retry.window if window is None else window
        start = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            deadline = self._deadline
            timeout = self._timeout if deadline is None else min(self._timeout, deadline - time.monotonic())
            result = self._post(payload, headers, attempt, max(0.05, timeout))
            if result.delivered or not result.retryable:
                break
            if self._exiting and result.reason == REFUSED:
                # Exiting and nothing listens: retries could only use up the exit budget, while
                # spooling now keeps exit quick (the spool is sent at the next start).
                break
            if not self._pause(self.retry.pause(attempt, result.retry_after), start + window, hurry):
                break
        self._record(result, span_count, announce_outage)
        return result

    def _pause(self, seconds: float, retry_until: float, hurry: threading.Event | None) -> bool:
        """Sleep before the next attempt; False if there is no time (or reason) to try again."""
        resume = time.monotonic() + seconds
        while True:
            if self._closing.is_set() or (hurry is not None and hurry.is_set()):
                return False
            limit = retry_until if self._deadline is None else min(retry_until, self._deadline)
            if resume >= limit:
                return False
            remaining = resume - time.monotonic()
            if remaining <= 0:
                return True
            self._closing.wait(min(remaining, _WAIT_SLICE))

    def _post(self, payload: bytes, headers: Mapping[str, str], attempt: int, timeout: float) -> Delivery:
        _stats.add("export_requests")
        transport = self._transport
        if isinstance(transport, Exception):  # a URL that cannot be sent to: retrying will not help
            return Delivery(False, False, f"{type(transport).__name__}: {transport}", None, attempt)
        try:
            with suppress_instrumentation(), suppress_http_instrumentation():
                # ``timeout`` bounds each socket operation, the deadline the whole request.
                answer = transport.post(payload, headers, timeout=timeout, deadline=timeout)
        except TimeoutError:
            return Delivery(False, True, "the collector did not answer in time", None, attempt)
        except (OSError, http.client.HTTPException) as error:
            return Delivery(False, True, _connection_reason(error), None, attempt)
        except Exception as error:  # a broken connection object: retrying will not help
            return Delivery(False, False, f"{type(error).__name__}: {error}", None, attempt)
        status = answer.status
        if 200 <= status < 300:
            rejected, message = self.partial_success(answer.content)
            if rejected:
                warn_once(
                    ("partial-success-rejected", self.ledger.noun),
                    "botanu: the collector rejected %d %s(s) of a batch: %s (logged once; rejected "
                    "ones are counted in botanu.stats() as dropped 'rejected_by_collector')",
                    rejected,
                    self.ledger.noun,
                    message or "(no message)",
                )
            elif message:  # the OTLP "warning" form: everything accepted, with something to say
                _stats.add("collector_warnings")
                warn_once(
                    "partial-success-warning",
                    "botanu: the collector accepted a batch with a warning: %s (logged once; such "
                    "answers are counted in botanu.stats() as 'collector_warnings')",
                    message,
                )
            return Delivery(True, False, "ok", status, attempt, rejected, message=message)
        text = answer.text[:200].strip()
        reason = f"HTTP {status}" + (f": {text}" if text else "")
        if status in RETRYABLE_STATUSES:
            retry_after = parse_retry_after(answer.headers.get("retry-after"))
            return Delivery(False, True, reason, status, attempt, retry_after=retry_after)
        return Delivery(False, False, reason, status, attempt)

    def _record(self, result: Delivery, span_count: int, announce_outage: bool = True) -> None:
        """Update the collector's health and say so in the log (once per outage)."""
        if result.delivered:
            if self.health.record_success():
                logger.info("botanu: delivery to %s resumed", self._shown_endpoint)
            if self.after_delivery is not None:
                self.after_delivery()
            return
        if not result.retryable:
            if result.status == 413:
                return  # too large: the batch is split and sent again (see _split)
            warn_once(
                ("not-retryable", result.status),
                "botanu: the collector at %s refused %d %s(s) (%s); this is not retried",
                self._shown_endpoint,
                span_count,
                self.ledger.noun,
                result.reason,
            )
            return
        if self.health.record_failure(result.retry_after):
            with self._announce_lock:
                self._unannounced = result.reason
            if announce_outage:  # no batch to settle here (a replayed file stays in the spool)
                self._announce_outage(None)

    def _announce_outage(self, refused: str | None, fate: str | None = None) -> None:
        """Log the outage that began, if not done yet, with what became of the spans that found it.

        ``refused`` is why the spool did not take them (None: it did); ``fate`` overrides both.
        """
        if self._unannounced is None:
            return
        with self._announce_lock:
            reason, self._unannounced = self._unannounced, None
        if reason is None:  # another thread told it
            return
        logger.warning(
            "botanu: cannot deliver %ss to the collector at %s (%s). botanu keeps running; "
            "undelivered %ss are %s.",
            self.ledger.noun,
            self._shown_endpoint,
            reason,
            self.ledger.noun,
            fate or self._fate(refused),
        )

    def _fate(self, refused: str | None) -> str:
        if self.spool is None:
            return "counted in botanu.stats()"
        if refused is None:
            return f"kept in the spool at {self.spool.directory} and sent when it is reachable again"
        return f"dropped, because the spool at {self.spool.directory} did not take them ({refused})"


def _partial_success(content: bytes) -> tuple[int, str]:
    """How many spans a trace export response rejects, and the collector's message."""
    return read_partial_success(content, ExportTraceServiceResponse(), "rejected_spans")


def read_partial_success(content: bytes, response: Any, rejected_field: str) -> tuple[int, str]:
    """Rejected count and message of an OTLP export response's ``partial_success``, if any."""
    if not content:
        return 0, ""
    try:
        response.ParseFromString(content)
    except Exception:
        return 0, ""
    if not response.HasField("partial_success"):
        return 0, ""
    return getattr(response.partial_success, rejected_field), response.partial_success.error_message


# The connection ended under the request (an answer cut short included).
_CUT_OFF = (ConnectionResetError, ConnectionAbortedError, BrokenPipeError, http.client.IncompleteRead)


def _connection_reason(error: BaseException) -> str:
    if isinstance(error, ConnectionRefusedError):
        return REFUSED
    if isinstance(error, socket.gaierror):
        return "unknown host"
    if isinstance(error, _CUT_OFF):
        return "connection reset"
    return f"connection failed ({type(error).__name__})"

"""OTLP/HTTP (protobuf) span exporter with honest results and bounded retries.

It uses the official OTLP protobuf encoder and ``requests``, and differs from the
stock exporter where botanu users need it to:

* retries follow the OTLP specification (429, 502, 503, 504 and connection
  failures) with jittered exponential backoff, and honour ``Retry-After``;
* every wait is bounded by a deadline that flush and shutdown can shorten, so
  the app never hangs on exit because the collector is down;
* a partial-success response is surfaced, not taken as full success;
* an unreachable collector is reported in one warning, not one per batch;
* the API key is sent only to the configured endpoint (redirects are not followed).
"""

from __future__ import annotations

import email.utils
import gzip
import logging
import random
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import requests
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.instrumentation.utils import suppress_http_instrumentation, suppress_instrumentation
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from botanu import _stats
from botanu._safety import warn_once
from botanu._version import __version__

logger = logging.getLogger("botanu")

RETRYABLE_STATUSES = frozenset({429, 502, 503, 504})
USER_AGENT = f"botanu/{__version__} (OTLP/HTTP protobuf)"


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


class OTLPHttpSpanExporter(SpanExporter):
    """Send spans to an OTLP/HTTP collector as gzip-compressed protobuf.

    Args:
        endpoint: The full traces URL, e.g. ``http://localhost:4318/v1/traces``.
        headers: Extra request headers (already resolved from settings).
        api_key: Sent as ``Authorization: Bearer <key>``, to this endpoint only.
        compression: ``gzip`` (default) or ``none``.
        timeout: Seconds for one HTTP attempt.
        retry_window: Seconds during which failed attempts are retried.
    """

    def __init__(
        self,
        endpoint: str,
        *,
        headers: Mapping[str, str] | None = None,
        api_key: str | None = None,
        compression: str = "gzip",
        timeout: float = 10.0,
        retry_window: float = 15.0,
    ) -> None:
        self.endpoint = endpoint
        self._compression = compression
        self._timeout = timeout
        self._retry_window = retry_window
        self._session = requests.Session()
        # The environment (proxies, netrc credentials) must not redirect or decorate
        # export traffic: botanu sends exactly what was configured, to where it was configured.
        self._session.trust_env = False
        self._headers = {
            "Content-Type": "application/x-protobuf",
            "User-Agent": USER_AGENT,
        }
        if compression == "gzip":
            self._headers["Content-Encoding"] = "gzip"
        for key, value in (headers or {}).items():
            self._headers[key] = value
        if api_key and not any(k.lower() == "authorization" for k in self._headers):
            self._headers["Authorization"] = f"Bearer {api_key}"
        self._closing = threading.Event()
        self._deadline: float | None = None
        self._healthy = True
        self._lock = threading.Lock()

    # ----------------------------------------------------------------- SpanExporter

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        count = len(spans)
        _stats.add("export_attempted", count)
        try:
            body = encode_spans(spans).SerializeToString()
        except Exception as error:
            warn_once(
                ("encode", type(error)), "botanu: could not encode spans for export (%s); dropped", error
            )
            _stats.drop("encode_error", count)
            return SpanExportResult.FAILURE
        result = self.send(body, count)
        if result.delivered:
            _stats.add("exported", count - result.rejected_spans)
            if result.rejected_spans:
                _stats.drop("rejected_by_collector", result.rejected_spans)
            return SpanExportResult.SUCCESS
        self.on_undelivered(body, count, result)
        return SpanExportResult.FAILURE

    def on_undelivered(self, body: bytes, span_count: int, result: Delivery) -> None:
        """Called with every request that could not be delivered (the spool hooks in here)."""
        _stats.drop("not_retryable" if not result.retryable else "collector_unavailable", span_count)

    def shutdown(self) -> None:
        self._closing.set()
        self._session.close()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True

    # ----------------------------------------------------------------- deadlines

    def set_deadline(self, deadline: float | None) -> None:
        """Bound every attempt and backoff by ``deadline`` (a ``time.monotonic()`` value)."""
        self._deadline = deadline

    def _limit(self, start: float) -> float:
        limit = start + self._retry_window
        if self._deadline is not None:
            limit = min(limit, self._deadline)
        return limit

    # ----------------------------------------------------------------- sending

    def send(self, body: bytes, span_count: int = 0) -> Delivery:
        """Send one encoded ``ExportTraceServiceRequest``, retrying as the spec allows."""
        payload = gzip.compress(body, compresslevel=6) if self._compression == "gzip" else body
        start = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            limit = self._limit(start)
            result, wait_hint = self._attempt(
                payload, attempt, max(0.05, min(self._timeout, limit - time.monotonic()))
            )
            if result.delivered or not result.retryable:
                break
            delay = wait_hint if wait_hint is not None else _backoff(attempt)
            if self._closing.is_set() or time.monotonic() + delay >= limit:
                break
            if self._closing.wait(delay):
                break
        self._report(result, span_count)
        return result

    def _attempt(self, payload: bytes, attempt: int, timeout: float) -> tuple[Delivery, float | None]:
        try:
            with suppress_instrumentation(), suppress_http_instrumentation():
                response = self._session.post(
                    self.endpoint, data=payload, headers=self._headers, timeout=timeout, allow_redirects=False
                )
        except requests.exceptions.Timeout:
            return Delivery(False, True, "the collector did not answer in time", None, attempt), None
        except requests.exceptions.ConnectionError as error:
            return Delivery(False, True, _connection_reason(error), None, attempt), None
        except Exception as error:  # a bad URL or a broken session: retrying will not help
            return Delivery(False, False, f"{type(error).__name__}: {error}", None, attempt), None
        status = response.status_code
        if 200 <= status < 300:
            rejected, message = _partial_success(response.content)
            if rejected:
                warn_once(
                    ("partial", message),
                    "botanu: the collector rejected %d span(s) of a batch: %s",
                    rejected,
                    message or "(no message)",
                )
            return Delivery(True, False, "ok", status, attempt, rejected), None
        reason = f"HTTP {status}" + (f": {response.text[:200].strip()}" if response.text else "")
        if status in RETRYABLE_STATUSES:
            return Delivery(False, True, reason, status, attempt), _retry_after(
                response.headers.get("Retry-After")
            )
        return Delivery(False, False, reason, status, attempt), None

    def _report(self, result: Delivery, span_count: int) -> None:
        with self._lock:
            was_healthy = self._healthy
            self._healthy = result.delivered
        if result.delivered:
            if not was_healthy:
                logger.info("botanu: delivery to %s resumed", self.endpoint)
            return
        if not result.retryable:
            warn_once(
                ("not-retryable", result.status),
                "botanu: the collector at %s refused %d span(s) (%s); this is not retried",
                self.endpoint,
                span_count,
                result.reason,
            )
            return
        if was_healthy:
            logger.warning(
                "botanu: cannot deliver spans to the collector at %s (%s). botanu keeps running; "
                "undelivered spans are counted in botanu.stats().",
                self.endpoint,
                result.reason,
            )


def _backoff(attempt: int) -> float:
    """Full-jitter exponential backoff: up to 0.5 s, 1 s, 2 s ... capped at 8 s."""
    ceiling = min(8.0, 0.5 * (2 ** (attempt - 1)))
    return random.uniform(ceiling / 2, ceiling)


def _retry_after(value: str | None) -> float | None:
    """Parse ``Retry-After`` as delta-seconds or as an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - time.time())


def _partial_success(content: bytes) -> tuple[int, str]:
    if not content:
        return 0, ""
    response = ExportTraceServiceResponse()
    try:
        response.ParseFromString(content)
    except Exception:
        return 0, ""
    if not response.HasField("partial_success"):
        return 0, ""
    return response.partial_success.rejected_spans, response.partial_success.error_message


def _connection_reason(error: Exception) -> str:
    text = str(error)
    if "Connection refused" in text or "ECONNREFUSED" in text or "Errno 111" in text:
        return "connection refused"
    if "Name or service not known" in text or "nodename nor servname" in text:
        return "unknown host"
    if "reset" in text.lower():
        return "connection reset"
    return "connection failed"

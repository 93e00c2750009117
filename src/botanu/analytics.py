"""Product analytics as spans: ``track()``, ``identify()``, the ``Analytics`` client and ``session()``.

Each call becomes a zero-length span at the event's time, in the current trace,
so a product event sits next to the run, steps and HTTP calls that caused it,
and goes through the same redaction and export as every other span:

* ``track(event, distinct_id, ...)`` -> span ``botanu.track/<event>``;
* ``identify(distinct_id, ...)``     -> span ``botanu.identify``;

both with ``enduser.id`` (the distinct id), ``botanu.analytics.event`` (track
only) and the properties as ``botanu.properties.<key>`` (flattened like flow
data). Spans rather than span events because a script or a queue worker often
has no current span to attach an event to, and because an event's own timestamp
(``timestamp=``) is honoured as the span's time.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from opentelemetry.trace import SpanKind

from botanu._analytics_attributes import BadTimestamp, baggage_attributes, flatten, timestamp_ns
from botanu._safety import contained, misuse, user_call_site, warn_once
from botanu.context._session import Session, current_session, session
from botanu.context._tracing import tracer

__all__ = ["Analytics", "Session", "current_session", "identify", "session", "track"]

TRACK_SPAN_PREFIX = "botanu.track/"
IDENTIFY_SPAN = "botanu.identify"
EVENT = "botanu.analytics.event"
ENDUSER_ID = "enduser.id"
PROPERTIES_PREFIX = "botanu.properties."

MAX_EVENT_CHARS = 128
MAX_ID_CHARS = 256


def track(
    event: str,
    distinct_id: str | None,
    properties: Mapping[str, Any] | None = None,
    timestamp: datetime | str | float | None = None,
) -> None:
    """Record a product event as a span ``botanu.track/<event>`` in the current trace.

    Args:
        event: The event name (low cardinality, e.g. ``"signup_completed"``).
        distinct_id: Who did it (``enduser.id``). None falls back to the
            ``user_id`` of the enclosing :func:`session`.
        properties: Event properties, as ``botanu.properties.<key>`` attributes
            (nested dicts flattened, bounded, redacted on export).
        timestamp: When it happened: a ``datetime`` (naive means UTC), an
            ISO-8601 string, or Unix seconds. Omitted: now. A bad one is warned
            about and the current time is used.

    Never raises: bad input logs one warning (``BOTANU_STRICT=1`` raises).
    """
    _record("track()", event, distinct_id, properties, timestamp, user_call_site())


def identify(distinct_id: str | None, properties: Mapping[str, Any] | None = None) -> None:
    """Record who a user is as a span ``botanu.identify`` with ``enduser.id`` and their properties.

    ``distinct_id`` None falls back to the enclosing :func:`session`'s ``user_id``.
    The properties (``botanu.properties.<key>``) are redacted on export like
    every attribute: emails and names are PII, so configure redaction to suit.
    """
    _record("identify()", None, distinct_id, properties, None, user_call_site())


def _debug_logging() -> None:
    botanu_logger = logging.getLogger("botanu")
    botanu_logger.setLevel(logging.DEBUG)
    if not botanu_logger.handlers:
        botanu_logger.addHandler(logging.StreamHandler())


def _record(
    api: str,
    event: object,
    distinct_id: object,
    properties: object,
    timestamp: object,
    site: tuple[str, int],
) -> None:
    with contained(f"recording {api}"):
        if api == "track()" and (
            not isinstance(event, str) or not event.strip() or len(event) > MAX_EVENT_CHARS
        ):
            misuse(
                "track() event must be a non-empty string of at most %d characters, got %r; nothing recorded",
                MAX_EVENT_CHARS,
                event,
                site=site,
            )
            return
        user = _distinct_id(api, distinct_id, site)
        if user is None:
            return
        if properties is None:
            properties = {}
        if not isinstance(properties, Mapping):
            misuse(
                "%s properties must be a mapping (dict), got %s; nothing recorded",
                api,
                type(properties).__name__,
                site=site,
            )
            return
        at_ns = _timestamp(api, timestamp, site)
        attributes: dict[str, Any] = baggage_attributes()
        attributes.update(flatten(PROPERTIES_PREFIX, properties))
        attributes[ENDUSER_ID] = user
        if isinstance(event, str):
            attributes[EVENT] = event.strip()
        name = TRACK_SPAN_PREFIX + event.strip() if isinstance(event, str) else IDENTIFY_SPAN
        span = tracer().start_span(name, kind=SpanKind.INTERNAL, attributes=attributes, start_time=at_ns)
        span.end(end_time=at_ns)


def _distinct_id(api: str, value: object, site: tuple[str, int]) -> str | None:
    if value is None:
        value = current_session().get("user_id")
        if value is None:
            misuse(
                "%s needs a distinct_id (or a botanu.session(user_id=...) around it); nothing recorded",
                api,
                site=site,
            )
            return None
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        misuse("%s distinct_id must be a non-empty string, got %r; nothing recorded", api, value, site=site)
        return None
    return value.strip()[:MAX_ID_CHARS]


def _timestamp(api: str, value: object, site: tuple[str, int]) -> int:
    if value is None:
        return time.time_ns()
    try:
        return timestamp_ns(value)  # type: ignore[arg-type]
    except BadTimestamp as error:
        misuse("%s timestamp: %s; the current time is used", api, error, site=site)
        return time.time_ns()


class Analytics:
    """An analytics client for scripts, workers and serverless handlers (like Serla's client).

    It records through botanu's pipeline (call ``botanu.init()`` first) and adds:

    * a default ``distinct_id`` and super-properties merged into every
      ``track()`` (the call's own properties win);
    * ``flush()``: emit due flow verdicts and deliver everything queued, so a
      serverless handler can return without losing events;
    * use as ``with`` / ``async with``: flushes when the block exits (the client
      stays usable, so a module-level client can wrap each invocation);
    * ``shutdown()``: flush, then ignore further calls with a warning.

    Args:
        distinct_id: The default ``distinct_id`` (e.g. ``"cron"`` for a job).
        properties: Super-properties added to every tracked event.
        flush_timeout: Seconds ``flush()`` waits at most (default 5).
        debug: True sets botanu's logger to DEBUG (with a stderr handler if it has none).
        api_key, host, flush_interval_seconds, batch_size, flush_on_exit: accepted so code
            written for the Serla client keeps running; botanu's pipeline does the sending
            (``botanu.init(endpoint=..., api_key=...)``, ``OTEL_BSP_*`` for batching, a flush
            at exit always), so these are not used here and one warning says so.
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        distinct_id: str | None = None,
        properties: Mapping[str, Any] | None = None,
        flush_timeout: float = 5.0,
        debug: bool = False,
        host: str | None = None,
        flush_interval_seconds: float | None = None,
        batch_size: int | None = None,
        flush_on_exit: bool | None = None,
    ) -> None:
        site = user_call_site()
        serla_only = {
            "api_key": api_key,
            "host": host,
            "flush_interval_seconds": flush_interval_seconds,
            "batch_size": batch_size,
            "flush_on_exit": flush_on_exit,
        }
        unused = [name for name, value in serla_only.items() if value is not None]
        if unused:
            warn_once(
                ("Analytics() unused", tuple(unused)),
                "botanu: Analytics(%s) are Serla client settings that botanu does not use: events go "
                "through botanu's pipeline (configure it with botanu.init(endpoint=..., api_key=...); "
                "OTEL_BSP_* for batching; it always flushes at exit)",
                ", ".join(unused),
            )
        if debug:
            _debug_logging()
        if properties is not None and not isinstance(properties, Mapping):
            misuse(
                "Analytics() properties must be a mapping, got %s; ignored",
                type(properties).__name__,
                site=site,
            )
            properties = None
        if (
            isinstance(flush_timeout, bool)
            or not isinstance(flush_timeout, (int, float))
            or flush_timeout < 0
        ):
            misuse(
                "Analytics() flush_timeout must be a non-negative number, got %r; using 5",
                flush_timeout,
                site=site,
            )
            flush_timeout = 5.0
        self.distinct_id = distinct_id
        self.properties: dict[str, Any] = dict(properties or {})
        self.flush_timeout = float(flush_timeout)
        self._closed = False

    def track(
        self,
        event: str,
        distinct_id: str | None = None,
        properties: Mapping[str, Any] | None = None,
        timestamp: datetime | str | float | None = None,
    ) -> None:
        """Like :func:`botanu.track`, with this client's default ``distinct_id`` and super-properties."""
        site = user_call_site()
        if self._refused("track()", site):
            return
        merged: Any = properties
        if self.properties:
            if properties is not None and not isinstance(properties, Mapping):
                merged = properties  # reported by _record
            else:
                merged = {**self.properties, **(properties or {})}
        _record(
            "track()",
            event,
            distinct_id if distinct_id is not None else self.distinct_id,
            merged,
            timestamp,
            site,
        )

    def identify(self, distinct_id: str | None = None, properties: Mapping[str, Any] | None = None) -> None:
        """Like :func:`botanu.identify`, with this client's default ``distinct_id``."""
        site = user_call_site()
        if self._refused("identify()", site):
            return
        _record(
            "identify()",
            None,
            distinct_id if distinct_id is not None else self.distinct_id,
            properties,
            None,
            site,
        )

    def flush(self, timeout: float | None = None) -> bool:
        """Emit due flow verdicts, then deliver every queued span; True if all were delivered.

        Waits at most ``timeout`` seconds (default: ``flush_timeout``). Call it
        before a serverless handler returns.
        """
        with contained("flushing analytics"):
            import botanu  # at call time: botanu's package imports this module
            from botanu._pipeline import active_settings
            from botanu.flows import check_timeouts

            if active_settings() is None:
                warn_once(
                    "Analytics.flush() before init",
                    "botanu: Analytics.flush() before botanu.init(): nothing was recorded or delivered",
                )
                return False
            check_timeouts()
            return botanu.force_flush(self.flush_timeout if timeout is None else timeout)
        return False

    def pending_count(self) -> int:
        """Spans (events included) waiting in this process to be sent, as in Serla's client."""
        with contained("counting pending analytics"):
            import botanu

            return int(botanu.stats().get("in_memory", 0))
        return 0

    def shutdown(self, timeout: float | None = None) -> bool:
        """Flush, then ignore later calls on this client. botanu's pipeline itself keeps running."""
        delivered = self.flush(timeout)
        self._closed = True
        return delivered

    def _refused(self, api: str, site: tuple[str, int]) -> bool:
        if self._closed:
            misuse("Analytics.%s called after shutdown(); nothing recorded", api, site=site)
        return self._closed

    def __enter__(self) -> Analytics:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.flush()

    async def __aenter__(self) -> Analytics:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        # The flush waits on the export thread: keep the event loop free meanwhile.
        await asyncio.get_running_loop().run_in_executor(None, self.flush)

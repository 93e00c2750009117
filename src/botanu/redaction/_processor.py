"""RedactingSpanProcessor: hands the next processor a redacted *copy* of every ended span."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry import trace as trace_api
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, Span, SpanProcessor
from opentelemetry.sdk.util import BoundedList
from opentelemetry.trace import Status

from botanu._safety import warn_once
from botanu.context._tracing import ending_callback, uses_start
from botanu.logs._fingerprint import FINGERPRINT, fingerprint_text
from botanu.redaction._budget import CURRENT, OPEN, one_item
from botanu.redaction._redactor import CLEAN, MIN_SCAN_LEN, Redactor, Tally, plain_dict, with_audit
from botanu.redaction._replace import FAILED
from botanu.redaction._stats import STATS

logger = logging.getLogger("botanu")


class RedactingSpanProcessor(SpanProcessor):
    """Wraps a span processor (usually a ``BatchSpanProcessor``) so that it only sees redacted spans.

    ``on_end`` builds a redacted copy of the ended span (name, attributes, events, links,
    status description, resource attributes) and passes only the copy on; the live span is
    never modified. A span with nothing to redact is passed through as is. Changed spans carry
    ``botanu.redaction.count`` and ``botanu.redaction.rules`` (rule names, never matched text).

    The cost of one span is bounded, about 90 ms of CPU time per MB of its text (see ``_budget``):
    what is left when its budget runs out is replaced unscanned (rule ``scan_limit``).

    Redaction never raises into ``span.end()``: if it fails, the span is exported with every
    string value replaced by ``[REDACTED: redaction failed]`` (fail closed), the failure is
    counted in :func:`botanu.redaction.redaction_stats` and logged once.
    """

    def __init__(self, wrapped: SpanProcessor, redactor: Redactor | None = None) -> None:
        self._wrapped = wrapped
        self._redactor = redactor if redactor is not None else Redactor()
        self._forward_start = uses_start(wrapped)
        self._forward_ending = ending_callback(wrapped)
        # The resource is shared by every span of a provider: redact it once. One tuple, replaced
        # atomically, so concurrent spans never pair one resource with another's result.
        self._resource_cache: tuple[Resource | None, Resource | None, Tally] = (None, None, [])

    @property
    def wrapped(self) -> SpanProcessor:
        """The processor that receives the redacted spans."""
        return self._wrapped

    @property
    def needs_ending(self) -> bool:
        """Whether the processor behind uses the "span ending" callback (else it is not passed on)."""
        return self._forward_ending is not None

    @property
    def redactor(self) -> Redactor:
        """The :class:`Redactor` in use."""
        return self._redactor

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        if self._forward_start:
            self._wrapped.on_start(span, parent_context=parent_context)

    def _on_ending(self, span: Span) -> None:
        if self._forward_ending is not None:
            self._forward_ending(span)

    def on_end(self, span: ReadableSpan) -> None:
        next(STATS._seen)  # count the span (lock-free, see _stats)
        try:
            if self._unchanged(span):
                exported: ReadableSpan | None = span
            else:
                # One scan budget for the whole span, so that its cost is bounded per MB of its
                # text (see _budget; written out here rather than as a decorator: this is hot).
                outer = CURRENT.budget
                CURRENT.budget = OPEN
                try:
                    exported = self._redact(span)
                finally:
                    CURRENT.budget = outer
        except Exception as error:
            exported = _fail_closed(span, self._redactor, error)
        if exported is None:
            return
        try:
            self._wrapped.on_end(exported)
        except Exception:
            warn_once(
                ("redaction", "wrapped-on-end"),
                "botanu: the span processor behind redaction raised in on_end (ignored)",
                level=logging.ERROR,
            )
            logger.debug("botanu: wrapped on_end failed", exc_info=True)

    def shutdown(self) -> None:
        return self._wrapped.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._wrapped.force_flush(timeout_millis)

    # ------------------------------------------------------------------ redaction

    def _unchanged(self, span: ReadableSpan) -> bool:
        """The common case in one expression: a span whose every part is already known clean.

        Read-only peeks at the SDK's private fields (an SDK span, and its BoundedList of events
        and links); any other span, or any doubt, says False and takes the full path.
        """
        redactor = self._redactor
        try:
            cached = self._resource_cache
            return (
                redactor.callback is None
                and redactor._known_clean(span._attributes._dict)  # type: ignore[attr-defined]
                and (redactor._text_cache.get(span._name) is CLEAN or len(span._name) < MIN_SCAN_LEN)  # type: ignore[attr-defined]
                and not span._status.description  # type: ignore[attr-defined]
                and not span._events._dq  # type: ignore[attr-defined]
                and not span._links._dq  # type: ignore[attr-defined]
                and span._resource is cached[0]  # type: ignore[attr-defined]
                and cached[1] is cached[0]
            )
        except (AttributeError, TypeError):
            return False

    def _redact(self, span: ReadableSpan) -> ReadableSpan:
        redactor = self._redactor
        tally: Tally = []
        try:
            # Read-only peeks at the SDK's fields: the public properties build a read-only proxy
            # and copy the locked event/link lists on every access, which is most of the cost of
            # a span that needs nothing. Any other ReadableSpan takes the public route below.
            raw_attributes = span._attributes
            name = span._name
            status = span._status
            has_events = bool(span._events)
            has_links = bool(span._links)
            resource = span._resource
        except AttributeError:
            raw_attributes = span.attributes
            name, status, resource = span.name, span.status, span.resource
            has_events = has_links = True
        if type(raw_attributes) is BoundedAttributes:
            # Its backing dict, read only: iterating it is C-speed and no copy is needed, since
            # a changed span gets a new dict anyway.
            attributes = getattr(raw_attributes, "_dict", None) or plain_dict(raw_attributes)
        else:
            attributes = plain_dict(raw_attributes) if raw_attributes else raw_attributes
        new_attributes = redactor._attributes(attributes, tally)
        if (
            redactor.callback is None
            and type(name) is str
            and (len(name) < MIN_SCAN_LEN or redactor._text_cache.get(name) is CLEAN)
        ):
            new_name = name  # span names repeat: usually already known to be clean
        else:
            new_name = redactor._span_name(name, tally)
        new_status = status
        description = status.description
        if description:
            new_description = redactor._special("<status.description>", description, tally)
            if new_description is not description:
                new_status = Status(status.status_code, new_description)
        events = span.events if has_events else ()
        new_events = _redact_events(redactor, events, tally) if events else events
        if events and (attributes is None or FINGERPRINT not in attributes):
            # From the exception as raised (the same text the live-exception path digests).
            fingerprint = _fingerprint_of(events)
            if fingerprint is not None:
                new_attributes = {**(new_attributes or {}), FINGERPRINT: fingerprint}
        links = span.links if has_links else ()
        new_links = _redact_links(redactor, links, tally) if links else links
        new_resource = resource
        if resource is not None:
            cached = self._resource_cache
            if cached[0] is not resource:
                cached = self._redact_resource(resource)
            new_resource = cached[1]
            if cached[2]:
                tally.extend(cached[2])
        if (
            new_attributes is attributes
            and new_name is name
            and new_status is status
            and new_events is events
            and new_links is links
            and new_resource is resource
        ):
            return span
        if tally:
            new_attributes = with_audit(new_attributes, tally)
            STATS.span_changed(tally)
        return _copy(span, new_name, new_attributes, new_events, new_links, new_status, new_resource)

    @one_item  # an item of its own: redacted once, and its result is shared by every span
    def _redact_resource(self, resource: Resource) -> tuple[Resource | None, Resource | None, Tally]:
        tally: Tally = []
        attributes = resource.attributes
        new_attributes = self._redactor._attributes(attributes, tally)
        out = resource if new_attributes is attributes else Resource(new_attributes, resource.schema_url)
        self._resource_cache = cached = (resource, out, tally)
        return cached


def _fingerprint_of(events: Sequence[Event]) -> str | None:
    """``botanu.error.fingerprint`` of the last exception event, or None."""
    for event in reversed(events):
        if event.name == "exception":
            attributes = event.attributes or {}
            try:
                return fingerprint_text(
                    str(attributes.get("exception.type", "")),
                    str(attributes.get("exception.message", "")),
                    str(attributes.get("exception.stacktrace", "")),
                )
            except Exception:
                return None
    return None


def _redact_events(redactor: Redactor, events: Sequence[Event], tally: Tally) -> Sequence[Event]:
    out: list[Event] | None = None
    for index, event in enumerate(events):
        attributes = event.attributes
        new_attributes = redactor._attributes(attributes, tally)
        new_name = redactor._special("<event.name>", event.name, tally)
        if new_attributes is not attributes or new_name is not event.name:
            if out is None:
                out = list(events)
            out[index] = Event(
                new_name,
                _bounded(new_attributes, getattr(event, "dropped_attributes", 0)),
                timestamp=event.timestamp,
            )
    return events if out is None else tuple(out)


def _redact_links(
    redactor: Redactor, links: Sequence[trace_api.Link], tally: Tally
) -> Sequence[trace_api.Link]:
    out: list[trace_api.Link] | None = None
    for index, link in enumerate(links):
        attributes = link.attributes
        new_attributes = redactor._attributes(attributes, tally)
        if new_attributes is not attributes:
            if out is None:
                out = list(links)
            out[index] = trace_api.Link(link.context, _bounded(new_attributes, link.dropped_attributes))
    return links if out is None else tuple(out)


def _bounded(attributes: Mapping[str, Any] | None, dropped: int) -> BoundedAttributes:
    """Immutable attributes that still report how many the SDK dropped before redaction.

    The values come from an ended span (the SDK checked them) or from the redactor (strings,
    counts, rule names): assigned directly rather than checked again value by value, as the
    SDK's own ``BoundedAttributes.__deepcopy__`` does; that check was most of a copy's cost.
    An ended span's dict is never changed again, so it may be shared as it is.
    """
    bounded = BoundedAttributes(maxlen=None, immutable=True)
    bounded._dict = attributes if type(attributes) is dict else dict(attributes or {})
    bounded.dropped = dropped
    return bounded


def _bounded_list(items: Sequence[Any], dropped: int) -> BoundedList:
    bounded = BoundedList.from_seq(None, items)
    bounded.dropped = dropped
    return bounded


def _copy(
    span: ReadableSpan,
    name: str,
    attributes: Mapping[str, Any] | None,
    events: Sequence[Event],
    links: Sequence[trace_api.Link],
    status: Status,
    resource: Resource | None,
) -> ReadableSpan:
    return ReadableSpan(
        name=name,
        context=span.context,
        parent=span.parent,
        resource=resource,
        attributes=_bounded(attributes, span.dropped_attributes),
        events=_bounded_list(events, span.dropped_events),
        links=_bounded_list(links, span.dropped_links),
        kind=span.kind,
        status=status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


# ---------------------------------------------------------------------- fail closed


def _fail_closed(span: ReadableSpan, redactor: Redactor, error: BaseException) -> ReadableSpan | None:
    """A copy with every string value replaced; None (span dropped) if even that fails."""
    warn_once(
        ("redaction", "span-failed"),
        "botanu: redaction failed on a span (%s); exporting it with every string value replaced by %r",
        type(error).__name__,
        FAILED,
        level=logging.ERROR,
    )
    logger.debug("botanu: redaction failure", exc_info=(type(error), error, error.__traceback__))
    try:
        scrubbed: Tally = []
        attributes = {k: _scrub(v, scrubbed) for k, v in (span.attributes or {}).items()}
        attributes["botanu.redaction.count"] = len(scrubbed)
        attributes["botanu.redaction.rules"] = ("redaction_failed",)
        events = [
            Event(
                _safe_name(redactor, event.name),
                {k: _scrub(v, scrubbed) for k, v in (event.attributes or {}).items()},
                timestamp=event.timestamp,
            )
            for event in span.events
        ]
        links = [
            trace_api.Link(link.context, {k: _scrub(v, scrubbed) for k, v in (link.attributes or {}).items()})
            for link in span.links
        ]
        status = span.status
        if status.description:
            status = Status(status.status_code, FAILED)
        resource = span.resource
        if resource is not None:
            resource = Resource(
                {k: _scrub(v, scrubbed) for k, v in resource.attributes.items()}, resource.schema_url
            )
        copy = _copy(span, _safe_name(redactor, span.name), attributes, events, links, status, resource)
    except Exception:
        STATS.failure(dropped=True)
        warn_once(
            ("redaction", "span-dropped"),
            "botanu: a span could not be redacted nor scrubbed and was dropped (see redaction_stats())",
            level=logging.ERROR,
        )
        return None
    STATS.failure()
    return copy


def _safe_name(redactor: Redactor, name: str) -> str:
    try:
        return redactor.redact_text(name) if isinstance(name, str) else FAILED
    except Exception:
        return FAILED


def _scrub(value: Any, scrubbed: Tally, depth: int = 0) -> Any:
    if isinstance(value, (str, bytes, bytearray)):
        scrubbed.append(("redaction_failed",))
        return FAILED
    if isinstance(value, bool) or value is None or isinstance(value, float):
        return value
    if isinstance(value, int):
        # Long integers may be card numbers: drop them too.
        if abs(value) >= 10**12:
            scrubbed.append(("redaction_failed",))
            return FAILED
        return value
    if depth > 32:
        return FAILED
    if isinstance(value, Mapping):
        return {k: _scrub(v, scrubbed, depth + 1) for k, v in value.items()}
    if isinstance(value, Sequence):
        return tuple(_scrub(v, scrubbed, depth + 1) for v in value)
    return FAILED

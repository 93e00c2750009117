"""Read spans from OTLP/JSON files, as exported by collectors or ``OTLPReceiver.to_otlp_json()``.

A file is either JSON lines (one ``ExportTraceServiceRequest`` per line, as the
collector's file exporter writes) or a single JSON document: one request, or a
list of requests. Both field spellings are accepted (``resourceSpans`` from the
OTLP/JSON spec and protobuf's ``MessageToDict``; ``resource_spans`` when proto
field names were preserved), as are the old ``instrumentationLibrarySpans``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any


class OTLPJSONError(ValueError):
    """The file is not OTLP/JSON (the message says where)."""


@dataclass(frozen=True, slots=True)
class JSONSpan:
    """The parts of a span that flow checking needs, in plain Python types."""

    name: str
    start_ns: int
    end_ns: int
    attributes: dict[str, Any]
    status_code: str  # UNSET | OK | ERROR
    status_message: str = ""
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


def read_spans(text: str, source: str = "<input>") -> list[JSONSpan]:
    """Every span in ``text`` (see the module docstring for the accepted layouts)."""
    return [span for request in _requests(text, source) for span in _spans_of(request, source)]


def _requests(text: str, source: str) -> Iterator[Mapping[str, Any]]:
    stripped = text.strip()
    if not stripped:
        return
    try:
        document = json.loads(stripped)
    except ValueError:
        document = None
    if document is not None:
        for request in document if isinstance(document, list) else [document]:
            yield _request(request, source)
        return
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield _request(json.loads(line), f"{source}:{number}")
        except ValueError as error:
            if isinstance(error, OTLPJSONError):
                raise
            raise OTLPJSONError(f"{source}:{number}: not JSON ({error})") from None


def _request(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping) or not (
        {"resourceSpans", "resource_spans"} & value.keys() or not value
    ):
        raise OTLPJSONError(f"{where}: not an OTLP trace export (no resourceSpans)")
    return value


def _field(message: Mapping[str, Any], camel: str, snake: str, default: Any = None) -> Any:
    value = message.get(camel)
    return message.get(snake, default) if value is None else value


def _spans_of(request: Mapping[str, Any], source: str) -> Iterator[JSONSpan]:
    for resource_spans in _field(request, "resourceSpans", "resource_spans", []) or []:
        scopes = (
            _field(resource_spans, "scopeSpans", "scope_spans")
            or _field(resource_spans, "instrumentationLibrarySpans", "instrumentation_library_spans")
            or []
        )
        for scope_spans in scopes:
            for span in scope_spans.get("spans") or []:
                try:
                    yield _span(span)
                except (TypeError, ValueError, AttributeError) as error:
                    raise OTLPJSONError(f"{source}: malformed span ({error})") from None


_STATUS_NAMES = {
    0: "UNSET",
    1: "OK",
    2: "ERROR",
    "STATUS_CODE_UNSET": "UNSET",
    "STATUS_CODE_OK": "OK",
    "STATUS_CODE_ERROR": "ERROR",
    "UNSET": "UNSET",
    "OK": "OK",
    "ERROR": "ERROR",
}


def _span(span: Mapping[str, Any]) -> JSONSpan:
    status = span.get("status") or {}
    return JSONSpan(
        name=str(span.get("name", "")),
        start_ns=int(_field(span, "startTimeUnixNano", "start_time_unix_nano", 0) or 0),
        end_ns=int(_field(span, "endTimeUnixNano", "end_time_unix_nano", 0) or 0),
        attributes=attributes(span.get("attributes") or []),
        status_code=_STATUS_NAMES.get(status.get("code", 0), "UNSET"),
        status_message=str(status.get("message", "")),
        events=[
            (str(event.get("name", "")), attributes(event.get("attributes") or []))
            for event in span.get("events") or []
        ],
    )


def attributes(key_values: list[Mapping[str, Any]]) -> dict[str, Any]:
    """OTLP/JSON ``[{key, value: AnyValue}]`` as a plain dict."""
    return {str(kv.get("key")): any_value(kv.get("value") or {}) for kv in key_values}


def any_value(value: Mapping[str, Any]) -> Any:
    """An OTLP/JSON ``AnyValue`` as a plain Python value (arrays become lists)."""
    for camel, snake in (("stringValue", "string_value"), ("boolValue", "bool_value")):
        if camel in value or snake in value:
            return _field(value, camel, snake)
    if "intValue" in value or "int_value" in value:
        return int(_field(value, "intValue", "int_value"))  # int64 is a JSON string in OTLP/JSON
    if "doubleValue" in value or "double_value" in value:
        return float(_field(value, "doubleValue", "double_value"))
    if "arrayValue" in value or "array_value" in value:
        array = _field(value, "arrayValue", "array_value") or {}
        return [any_value(item) for item in array.get("values") or []]
    if "kvlistValue" in value or "kvlist_value" in value:
        kvlist = _field(value, "kvlistValue", "kvlist_value") or {}
        return attributes(kvlist.get("values") or [])
    if "bytesValue" in value or "bytes_value" in value:
        return _field(value, "bytesValue", "bytes_value")
    return None

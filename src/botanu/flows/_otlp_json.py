"""Read spans from OTLP/JSON files, as exported by collectors or ``OTLPReceiver.to_otlp_json()``.

A file is either JSON lines (one ``ExportTraceServiceRequest`` per line, as the
collector's file exporter writes) or a single JSON document: one request, or a
list of requests. Both field spellings are accepted (``resourceSpans`` from the
OTLP/JSON spec and protobuf's ``MessageToDict``; ``resource_spans`` when proto
field names were preserved), as are the old ``instrumentationLibrarySpans``.

:func:`read_exported` also takes OTLP *protobuf*: an ``ExportTraceServiceRequest``
body (gzip-compressed or not, as an OTLP/HTTP exporter sends it) or a file from
botanu's own spool, so spans that never reached a collector can be checked too.
"""

from __future__ import annotations

import gzip
import json
import zlib
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


def read_exported(data: bytes, source: str = "<input>") -> list[JSONSpan]:
    """Every span in a file's bytes: OTLP/JSON, OTLP protobuf (gzipped or not) or a botanu spool file."""
    from botanu.export._spool_file import MAGIC, CorruptSpoolFile, decode

    if data.startswith(MAGIC):
        try:
            record = decode(data)
        except CorruptSpoolFile as error:
            raise OTLPJSONError(f"{source}: damaged botanu spool file ({error})") from None
        if record.signal != "traces":
            return []  # a spooled log batch: no spans, nothing for flows to check
        data = record.payload
    if data.startswith(b"\x1f\x8b"):
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as error:
            raise OTLPJSONError(f"{source}: damaged gzip data ({error})") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return read_spans(_protobuf_as_json(data, source), source)
    return read_spans(text, source)


def _protobuf_as_json(data: bytes, source: str) -> str:
    from google.protobuf.json_format import MessageToJson
    from google.protobuf.message import DecodeError
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    request = ExportTraceServiceRequest()
    try:
        request.ParseFromString(data)
    except DecodeError:
        raise OTLPJSONError(
            f"{source}: neither OTLP/JSON nor an OTLP protobuf trace export (nor a botanu spool file)"
        ) from None
    return MessageToJson(request, indent=None)


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
    for resource_spans in _list(_field(request, "resourceSpans", "resource_spans"), "resourceSpans", source):
        scopes = (
            _field(resource_spans, "scopeSpans", "scope_spans")
            or _field(resource_spans, "instrumentationLibrarySpans", "instrumentation_library_spans")
            or []
        )
        for scope_spans in _list(scopes, "scopeSpans", source):
            for span in _list(scope_spans.get("spans"), "spans", source):
                try:
                    yield _span(span)
                except (TypeError, ValueError, AttributeError) as error:
                    raise OTLPJSONError(f"{source}: malformed span ({error})") from None


def _list(value: Any, what: str, source: str) -> list[Mapping[str, Any]]:
    """``value`` as a list of JSON objects, or an error naming the field (None is an empty list)."""
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, Mapping) for item in value):
        raise OTLPJSONError(f"{source}: malformed OTLP/JSON ({what} must be a list of objects)")
    return value


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

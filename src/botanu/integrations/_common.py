"""Pieces every framework integration shares: the missing-extra error and HTTP semconv attributes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode

from botanu import _safety

# Attribute names of the stable HTTP semantic conventions (semconv 1.23+).
HTTP_REQUEST_METHOD = "http.request.method"
HTTP_REQUEST_METHOD_ORIGINAL = "http.request.method_original"
HTTP_RESPONSE_STATUS_CODE = "http.response.status_code"
HTTP_ROUTE = "http.route"
URL_PATH = "url.path"
URL_SCHEME = "url.scheme"
CLIENT_ADDRESS = "client.address"
USER_AGENT = "user_agent.original"
NETWORK_PROTOCOL_VERSION = "network.protocol.version"
ERROR_TYPE = "error.type"

_KNOWN_METHODS = frozenset({"CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "TRACE"})


def missing_extra(what: str, extra: str, error: BaseException | None = None) -> ImportError:
    """The error an integration raises when used without its framework or contrib instrumentation."""
    detail = f" ({error})" if error is not None else ""
    return ImportError(
        f"botanu.integrations.{what} needs its framework and instrumentation: "
        f"pip install 'botanu[{extra}]'{detail}"
    )


def method_attributes(method: str) -> dict[str, str]:
    """``http.request.method`` as semconv wants it (unknown methods as ``_OTHER`` plus the original)."""
    upper = method.upper()
    if upper in _KNOWN_METHODS:
        return {HTTP_REQUEST_METHOD: upper}
    return {HTTP_REQUEST_METHOD: "_OTHER", HTTP_REQUEST_METHOD_ORIGINAL: method}


def span_name(method: str, route: str | None) -> str:
    """``{method} {route}``, or the method alone when no route matched (never the raw path)."""
    upper = method.upper()
    base = upper if upper in _KNOWN_METHODS else "HTTP"
    return f"{base} {route}" if route else base


def add_stable_attributes(span: trace.Span, attributes: Mapping[str, Any]) -> None:
    """Add stable-semconv attributes the contrib instrumentation did not set (it may emit the old ones)."""
    if not span.is_recording():
        return
    current = getattr(span, "attributes", None) or {}
    missing = {k: v for k, v in attributes.items() if v is not None and k not in current}
    if missing:
        span.set_attributes(missing)


def set_response_status(span: trace.Span, status_code: int) -> None:
    """``http.response.status_code``; a 5xx marks the server span ERROR (4xx is the caller's error)."""
    if not span.is_recording():
        return
    span.set_attribute(HTTP_RESPONSE_STATUS_CODE, status_code)
    if status_code >= 500:
        span.set_attribute(ERROR_TYPE, str(status_code))
        if getattr(span, "status", None) is None or span.status.status_code is StatusCode.UNSET:  # type: ignore[attr-defined]
            span.set_status(Status(StatusCode.ERROR))


def active_span() -> trace.Span | None:
    """The span already active for this request (an outer instrumentation's), or None."""
    try:
        span = trace.get_current_span()
        return span if span.get_span_context().is_valid else None
    except Exception:
        _safety.report_internal("checking for an active server span")
        return None

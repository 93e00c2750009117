"""HTTP client semantic-convention attributes from an ``httpx2`` request and response.

Pure functions of the objects ``httpx2`` hands around; the method, status and
error helpers are shared with the ``http.client`` instrumentor so both spell
things the same way.
"""

from __future__ import annotations

from typing import Any

from opentelemetry.semconv.attributes.error_attributes import ERROR_TYPE
from opentelemetry.semconv.attributes.http_attributes import (
    HTTP_REQUEST_METHOD,
    HTTP_REQUEST_METHOD_ORIGINAL,
    HTTP_RESPONSE_STATUS_CODE,
)
from opentelemetry.semconv.attributes.network_attributes import NETWORK_PROTOCOL_VERSION
from opentelemetry.semconv.attributes.server_attributes import SERVER_ADDRESS, SERVER_PORT
from opentelemetry.semconv.attributes.url_attributes import URL_FULL

from ..http_client._attributes import (
    KNOWN_METHODS,
    OTHER_METHOD,
    Attributes,
    error_type,
    is_error_status,
    span_name,
)

__all__ = [
    "Attributes",
    "error_type",
    "is_error_status",
    "request_attributes",
    "response_attributes",
    "span_name",
]

# httpx2.URL.port is None for a scheme's default port (WHATWG normalisation).
_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def request_attributes(request: Any) -> Attributes:
    """Attributes known when the request starts; userinfo in the URL is never reported.

    The host is the one sent on the wire (lower case, IDNA-encoded), so it is what
    ``propagate_to`` patterns are matched against.
    """
    method = str(request.method)
    url = request.url
    scheme = str(url.scheme)
    host = url.raw_host.decode("ascii")
    port = url.port
    attributes: Attributes = {
        HTTP_REQUEST_METHOD: method if method in KNOWN_METHODS else OTHER_METHOD,
        URL_FULL: f"{scheme}://{_authority(host, port)}{url.raw_path.decode('ascii')}",
        SERVER_ADDRESS: host,
    }
    if port is None:
        port = _DEFAULT_PORTS.get(scheme)
    if port is not None:
        attributes[SERVER_PORT] = int(port)
    if method not in KNOWN_METHODS:
        attributes[HTTP_REQUEST_METHOD_ORIGINAL] = method
    return attributes


def response_attributes(response: Any) -> Attributes:
    """Attributes of a received response; ``error.type`` for a 4xx/5xx status."""
    status = int(response.status_code)
    attributes: Attributes = {HTTP_RESPONSE_STATUS_CODE: status}
    version = _protocol_version(response)
    if version:
        attributes[NETWORK_PROTOCOL_VERSION] = version
    if is_error_status(status):
        attributes[ERROR_TYPE] = str(status)
    return attributes


def _protocol_version(response: Any) -> str | None:
    """``"1.1"``, ``"2"`` ... from ``httpx2``'s ``"HTTP/1.1"``, ``"HTTP/2"``; None if unknown."""
    version = str(response.http_version)
    return version[5:] if version.upper().startswith("HTTP/") and len(version) > 5 else None


def _authority(host: str, port: int | None) -> str:
    if ":" in host:  # an IPv6 literal needs brackets in a URL; httpx2 gives it without
        host = f"[{host}]"
    return host if port is None else f"{host}:{port}"

"""HTTP client semantic-convention attributes from what ``http.client`` knows.

Pure functions, no OpenTelemetry state: they turn a connection plus the
``putrequest(method, url)`` arguments into span name and attributes, and a
response or an exception into outcome attributes.
"""

from __future__ import annotations

import http.client
from urllib.parse import SplitResult, urlsplit

from opentelemetry.semconv.attributes.error_attributes import ERROR_TYPE
from opentelemetry.semconv.attributes.http_attributes import (
    HTTP_REQUEST_METHOD,
    HTTP_REQUEST_METHOD_ORIGINAL,
    HTTP_RESPONSE_STATUS_CODE,
)
from opentelemetry.semconv.attributes.network_attributes import NETWORK_PROTOCOL_VERSION
from opentelemetry.semconv.attributes.server_attributes import SERVER_ADDRESS, SERVER_PORT
from opentelemetry.semconv.attributes.url_attributes import URL_FULL
from opentelemetry.util.types import AttributeValue

Attributes = dict[str, AttributeValue]

# The methods HTTP semconv knows; anything else is reported as "_OTHER" (the
# method is case-sensitive on the wire, so "get" is not "GET").
KNOWN_METHODS = frozenset({"CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "TRACE"})
OTHER_METHOD = "_OTHER"

_DEFAULT_PORTS = {"http": 80, "https": 443}
_HTTP_VERSIONS = {9: "0.9", 10: "1.0", 11: "1.1"}
_HTTPS_CONNECTION: type | None = getattr(http.client, "HTTPSConnection", None)  # absent without ssl


def span_name(method: str) -> str:
    """Return the semconv span name: the method, or ``HTTP`` for an unknown one."""
    return method if method in KNOWN_METHODS else "HTTP"


def connection_scheme(conn: http.client.HTTPConnection) -> str:
    """Return ``https`` for a TLS connection, else ``http``."""
    if _HTTPS_CONNECTION is not None and isinstance(conn, _HTTPS_CONNECTION):
        return "https"
    # urllib3's HTTPSConnection derives from http.client.HTTPConnection, not from
    # HTTPSConnection, but it does declare the HTTPS default port.
    return "https" if getattr(conn, "default_port", None) == 443 else "http"


def request_attributes(conn: http.client.HTTPConnection, method: str, target: str) -> Attributes:
    """Attributes known when the request starts.

    ``target`` is the ``url`` given to ``putrequest``: usually a path with query
    (origin form), or a whole URL when the connection talks to an HTTP proxy
    (absolute form). Userinfo is never reported.
    """
    scheme, host, port, path = _destination(conn, str(target))
    attributes: Attributes = {
        HTTP_REQUEST_METHOD: method if method in KNOWN_METHODS else OTHER_METHOD,
        URL_FULL: f"{scheme}://{_authority(scheme, host, port)}{path}",
        SERVER_ADDRESS: host,
        SERVER_PORT: port,
    }
    if method not in KNOWN_METHODS:
        attributes[HTTP_REQUEST_METHOD_ORIGINAL] = method
    return attributes


def response_attributes(status: int, version: int | None) -> Attributes:
    """Attributes of a received response; ``error.type`` for a 4xx/5xx status."""
    attributes: Attributes = {HTTP_RESPONSE_STATUS_CODE: status}
    protocol = _HTTP_VERSIONS.get(version) if version is not None else None
    if protocol:
        attributes[NETWORK_PROTOCOL_VERSION] = protocol
    if is_error_status(status):
        attributes[ERROR_TYPE] = str(status)
    return attributes


def is_error_status(status: int) -> bool:
    """Client span rule: 4xx and 5xx are errors, everything below is not."""
    return status >= 400


def error_type(exc: BaseException) -> str:
    """``error.type`` for an exception: its canonical class name.

    Module-qualified except for builtins (``ConnectionRefusedError``,
    ``http.client.RemoteDisconnected``), the same spelling the SDK uses for the
    ``exception.type`` of the recorded exception event.
    """
    cls = type(exc)
    return cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"


def _destination(conn: http.client.HTTPConnection, target: str) -> tuple[str, str, int, str]:
    """Scheme, host, port and path+query of the origin server the request is for."""
    if target[:7].lower() == "http://" or target[:8].lower() == "https://":
        absolute = _split_absolute(target)
        if absolute is not None:
            return absolute
    scheme = connection_scheme(conn)
    # Through a CONNECT tunnel, conn.host is the proxy; the origin is the tunnel's host.
    tunnel_host = getattr(conn, "_tunnel_host", None)
    if tunnel_host:
        host = tunnel_host
        port = getattr(conn, "_tunnel_port", None) or _DEFAULT_PORTS[scheme]
    else:
        host = conn.host
        port = conn.port or _DEFAULT_PORTS[scheme]
    path = target if target.startswith("/") else f"/{target}"
    return scheme, host, int(port), path


def _split_absolute(target: str) -> tuple[str, str, int, str] | None:
    try:
        parts: SplitResult = urlsplit(target)
        port = parts.port
    except ValueError:  # malformed port or host: fall back to the connection's own address
        return None
    if not parts.hostname:
        return None
    scheme = parts.scheme.lower()
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return scheme, parts.hostname, port or _DEFAULT_PORTS[scheme], path


def _authority(scheme: str, host: str, port: int) -> str:
    if ":" in host and not host.startswith("["):  # an IPv6 literal needs brackets in a URL
        host = f"[{host}]"
    return host if port == _DEFAULT_PORTS.get(scheme) else f"{host}:{port}"

"""``HTTPClientInstrumentor``: installs and removes the ``http.client`` wrappers."""

from __future__ import annotations

import http.client
import os
import re
from collections.abc import Collection
from importlib import metadata
from typing import Any

import wrapt
from opentelemetry import trace
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor
from opentelemetry.instrumentation.utils import unwrap
from opentelemetry.semconv.schemas import Schemas

from .._guard import logger, report_failure
from ._hooks import ConnectionHooks, UrlFilter

# HTTPSConnection inherits all of these, so patching the base class covers both.
_TARGET = http.client.HTTPConnection
_METHODS = ("putrequest", "putheader", "endheaders", "send", "getresponse", "close")


class HTTPClientInstrumentor(BaseInstrumentor):
    """Traces requests made through ``http.client.HTTPConnection`` / ``HTTPSConnection``.

    Each request becomes one ``CLIENT`` span named after the method, carrying the
    stable HTTP client semantic conventions (``http.request.method``, ``url.full``,
    ``server.address``, ``server.port``, ``network.protocol.version``,
    ``http.response.status_code``, ``error.type``); ``traceparent`` and ``baggage``
    are sent as request headers unless the caller set them already.

    No span is made when a higher-level HTTP client instrumentation (requests,
    urllib3, urllib) already traces the call, so nested clients yield one span.
    The stable conventions are emitted whatever ``OTEL_SEMCONV_STABILITY_OPT_IN``
    says; URL query values are left to botanu's redacting span processor.

    ``instrument()`` accepts:

    * ``tracer_provider``: the provider to use instead of the global one;
    * ``excluded_urls``: comma-separated regular expressions of URLs not to trace;
      by default ``OTEL_PYTHON_HTTP_CLIENT_EXCLUDED_URLS``, falling back to
      ``OTEL_PYTHON_EXCLUDED_URLS``.
    """

    _hooks: ConnectionHooks | None = None
    _installed: dict[str, object] | None = None

    def instrumentation_dependencies(self) -> Collection[str]:
        """``http.client`` is in the standard library: nothing to require."""
        return []

    def _instrument(self, **kwargs: Any) -> None:
        tracer = trace.get_tracer(
            "botanu_instrumentation.http_client",
            _botanu_version(),
            tracer_provider=kwargs.get("tracer_provider"),
            schema_url=Schemas.V1_23_1.value,  # HTTP semconv is stable since 1.23
        )
        hooks = ConnectionHooks(tracer, _url_filter(kwargs.get("excluded_urls")))
        installed: dict[str, object] = {}
        try:
            for name in _METHODS:
                wrapt.wrap_function_wrapper(_TARGET, name, getattr(hooks, name))
                installed[name] = _TARGET.__dict__[name]
        except Exception:  # leave http.client as we found it rather than half patched
            report_failure("http.client instrument")
            _remove(installed)
            return
        self._hooks, self._installed = hooks, installed

    def _uninstrument(self, **kwargs: Any) -> None:
        if self._hooks is not None:
            self._hooks.enabled = False
        _remove(self._installed or {})
        self._hooks = self._installed = None


def _remove(installed: dict[str, object]) -> None:
    for name, wrapper in installed.items():
        if _TARGET.__dict__.get(name) is wrapper:
            unwrap(_TARGET, name)
        else:
            # Someone wrapped this method after us; unwrapping now would remove their
            # wrapper instead of ours. Ours stays in the chain, disabled.
            logger.warning(
                "http.client.HTTPConnection.%s was re-wrapped by another library; "
                "botanu's wrapper stays in place but no longer traces",
                name,
            )


class _ExcludedUrls:
    """URLs matching any of the regular expressions are not traced (searched, not full-matched)."""

    def __init__(self, patterns: list[str]) -> None:
        self._regex = re.compile("|".join(f"(?:{pattern})" for pattern in patterns))

    def url_disabled(self, url: str) -> bool:
        return self._regex.search(url) is not None


def _url_filter(excluded_urls: str | None) -> UrlFilter | None:
    if excluded_urls is None:
        # The same variables opentelemetry-util-http reads for the contrib clients.
        excluded_urls = os.environ.get(
            "OTEL_PYTHON_HTTP_CLIENT_EXCLUDED_URLS", os.environ.get("OTEL_PYTHON_EXCLUDED_URLS", "")
        )
    patterns = [pattern.strip() for pattern in excluded_urls.split(",") if pattern.strip()]
    if not patterns:
        return None
    try:
        return _ExcludedUrls(patterns)
    except re.error:
        report_failure("http.client excluded_urls")
        return None


def _botanu_version() -> str | None:
    try:
        return metadata.version("botanu")
    except metadata.PackageNotFoundError:
        return None

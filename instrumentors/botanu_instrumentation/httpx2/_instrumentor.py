"""``HTTPX2Instrumentor``: installs and removes the ``httpx2`` wrappers."""

from __future__ import annotations

import os
from collections.abc import Collection
from typing import Any

import wrapt
from opentelemetry import trace
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor
from opentelemetry.instrumentation.utils import unwrap
from opentelemetry.semconv.schemas import Schemas

from .._guard import logger, report_failure
from ..http_client._hooks import UrlFilter
from ..http_client._instrumentor import _botanu_version, _ExcludedUrls
from ._hooks import SendHooks

# Where each request (each redirect hop) passes on its way to the transport. The
# client's per-request send comes first: it runs outside whatever transport the
# client uses (the default one, a proxy mount, openai's aiohttp transport, a
# transport another instrumentation wrapped), so our span is the outer one and the
# others find HTTP instrumentation suppressed. The public transport methods are the
# fallback for an httpx2 without that private method.
_CLIENT_SEND = (
    ("Client", "_send_single_request", "send"),
    ("AsyncClient", "_send_single_request", "send_async"),
)
_TRANSPORT_SEND = (
    ("HTTPTransport", "handle_request", "send"),
    ("AsyncHTTPTransport", "handle_async_request", "send_async"),
)


class HTTPX2Instrumentor(BaseInstrumentor):
    """Traces the requests ``httpx2.Client`` and ``httpx2.AsyncClient`` send.

    Each request, every redirect hop included, becomes one ``CLIENT`` span named
    after the method, with the stable HTTP client semantic conventions
    (``http.request.method``, ``url.full``, ``server.address``, ``server.port``,
    ``network.protocol.version``, ``http.response.status_code``, ``error.type``);
    ``traceparent`` and ``baggage`` are sent through the global propagator.

    No span is made when HTTP instrumentation is suppressed or another HTTP client
    span is current, and none below ours (the contrib ``httpx2`` instrumentation of
    the transport, ``http.client``), so each request yields exactly one span. URL
    query values are left to botanu's redacting span processor.

    ``instrument()`` accepts:

    * ``tracer_provider``: the provider to use instead of the global one;
    * ``excluded_urls``: comma-separated regular expressions of URLs not to trace;
      by default ``OTEL_PYTHON_HTTPX2_EXCLUDED_URLS``, falling back to
      ``OTEL_PYTHON_EXCLUDED_URLS``.
    """

    _hooks: SendHooks | None = None
    _installed: list[tuple[type, str, object]] | None = None

    def instrumentation_dependencies(self) -> Collection[str]:
        """The library: without it, ``botanu.init()`` and ``botanu doctor`` skip this instrumentor."""
        return ("httpx2 >= 2.0",)

    def _instrument(self, **kwargs: Any) -> None:
        try:
            from importlib.util import find_spec

            if find_spec("httpx2") is None:
                raise ImportError("httpx2")
        except (ImportError, ValueError):  # opentelemetry-instrument calls every instrumentor
            logger.debug("botanu: httpx2 is not installed; nothing to instrument")
            return
        self._enabled = True
        # Wrapped when the app imports httpx2 (now, if it already has): importing it here would
        # cost every app that has it installed, used or not.
        wrapt.register_post_import_hook(lambda module: self._apply(module, kwargs), "httpx2")

    def _apply(self, httpx2: Any, kwargs: dict[str, Any]) -> None:
        if not getattr(self, "_enabled", False) or self._installed is not None:
            return
        tracer = trace.get_tracer(
            "botanu_instrumentation.httpx2",
            _botanu_version(),
            tracer_provider=kwargs.get("tracer_provider"),
            schema_url=Schemas.V1_23_1.value,  # HTTP semconv is stable since 1.23
        )
        in_process = tuple(
            cls
            for cls in (getattr(httpx2, "ASGITransport", None), getattr(httpx2, "WSGITransport", None))
            if cls
        )
        hooks = SendHooks(tracer, _url_filter(kwargs.get("excluded_urls")), in_process)
        installed: list[tuple[type, str, object]] = []
        try:
            for class_name, method, hook in _targets(httpx2):
                owner = getattr(httpx2, class_name)
                wrapt.wrap_function_wrapper(owner, method, getattr(hooks, hook))
                installed.append((owner, method, owner.__dict__[method]))
        except Exception:  # leave httpx2 as we found it rather than half patched
            report_failure("httpx2 instrument")
            _remove(installed)
            return
        self._hooks, self._installed = hooks, installed

    def _uninstrument(self, **kwargs: Any) -> None:
        self._enabled = False  # a hook still waiting for the import does nothing
        if self._hooks is not None:
            self._hooks.enabled = False
        _remove(self._installed or [])
        self._hooks = self._installed = None


def _targets(httpx2: Any) -> tuple[tuple[str, str, str], ...]:
    """The client methods when both clients define them, else the default transports'."""
    if all(method in vars(getattr(httpx2, owner, object)) for owner, method, _ in _CLIENT_SEND):
        return _CLIENT_SEND
    return _TRANSPORT_SEND


def _remove(installed: list[tuple[type, str, object]]) -> None:
    for owner, method, wrapper in installed:
        if owner.__dict__.get(method) is wrapper:
            unwrap(owner, method)
        else:
            # Someone wrapped this method after us; unwrapping now would remove their
            # wrapper instead of ours. Ours stays in the chain, disabled.
            logger.warning(
                "httpx2.%s.%s was re-wrapped by another library; botanu's wrapper stays in place but "
                "no longer traces",
                owner.__name__,
                method,
            )


def _url_filter(excluded_urls: str | None) -> UrlFilter | None:
    if excluded_urls is None:
        # The naming opentelemetry-util-http uses for the contrib clients.
        excluded_urls = os.environ.get(
            "OTEL_PYTHON_HTTPX2_EXCLUDED_URLS", os.environ.get("OTEL_PYTHON_EXCLUDED_URLS", "")
        )
    patterns = [pattern.strip() for pattern in excluded_urls.split(",") if pattern.strip()]
    if not patterns:
        return None
    try:
        return _ExcludedUrls(patterns)
    except Exception:  # a bad regular expression: trace everything rather than fail
        report_failure("httpx2 excluded_urls")
        return None

"""Baggage trust boundaries: what leaves the process, to whom, and what is trusted on the way in.

botanu's run identity travels in the W3C ``baggage`` header. Two rules keep that safe:

* **Outbound.** Business identity (``botanu.customer_id``, ``botanu.tenant_id``,
  ``botanu.event_id`` and the analytics/session ids) is sent only to hosts listed in
  ``propagate_to`` / ``BOTANU_PROPAGATE_TO`` (patterns such as ``api.mycorp.com``,
  ``*.internal``, ``10.0.*``). Elsewhere — LLM vendors, payment APIs — those keys
  are stripped from the header. Run ids (``botanu.run_id``, ``botanu.workflow``,
  ``botanu.step``, ``botanu.parent_run_id``, ``botanu.environment``) are random or
  low-cardinality and always travel, so one run can be followed across services.
  Other baggage entries of the app are left as the app set them; ``traceparent``
  is unchanged. The destination is read from the HTTP client span that is current
  when the instrumentation injects headers; when it is unknown, identity is stripped.
* **Inbound.** Unless ``trust_inbound_baggage`` / ``BOTANU_TRUST_INBOUND_BAGGAGE`` is
  on, ``botanu.*`` entries arriving from callers are dropped, so internet-facing
  services cannot have attribution forged by their callers. Services behind the
  app's own gateway turn it on to continue runs across services. Oversized or
  malformed baggage is bounded by the W3C limits of the underlying propagator.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import logging
import re
import urllib.parse
from collections.abc import Iterable, Sequence

from opentelemetry import baggage, propagate, trace
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.context import Context, get_current
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.propagators.textmap import (
    CarrierT,
    Getter,
    Setter,
    TextMapPropagator,
    default_getter,
    default_setter,
)

from botanu._config import Settings
from botanu._tracing import with_baggage

logger = logging.getLogger("botanu")

BOTANU_PREFIX = "botanu."
# Keys that identify a customer or person: never sent to hosts outside ``propagate_to``.
IDENTITY_KEYS = frozenset(
    {
        "botanu.customer_id",
        "botanu.tenant_id",
        "botanu.event_id",
        "botanu.user_id",
        "botanu.organization_id",
        "botanu.session_id",
        "botanu.chat_id",
        "botanu.distinct_id",
    }
)


def _host_of_span(span: trace.Span) -> tuple[str, int | None] | None:
    attributes = getattr(span, "attributes", None) or {}
    host = attributes.get("server.address") or attributes.get("net.peer.name")
    port = attributes.get("server.port") or attributes.get("net.peer.port")
    if not host:
        url = attributes.get("url.full") or attributes.get("http.url")
        if not isinstance(url, str):
            return None
        parsed = urllib.parse.urlsplit(url)
        host, port = parsed.hostname, parsed.port
    if not isinstance(host, str) or not host:
        return None
    return host.lower().strip("[]"), port if isinstance(port, int) else None


class HostPatterns:
    """Host patterns (``fnmatch`` style, optionally with ``:port``) for ``propagate_to``."""

    def __init__(self, patterns: Iterable[str]) -> None:
        self.patterns = tuple(p.strip().lower() for p in patterns if p and p.strip())

    def allows(self, host: str, port: int | None = None) -> bool:
        host_is_ip = _is_ip(host)
        for pattern in self.patterns:
            name, want_port = pattern, ""
            if pattern.count(":") == 1:  # host:port (IPv6 patterns have several colons and no port)
                name, _, want_port = pattern.partition(":")
            if want_port and str(port) != want_port:
                continue
            # "10.0.*" names addresses: it must not match a DNS name such as 10.0.attacker.example.
            if _IP_PATTERN.fullmatch(name) and not host_is_ip:
                continue
            if fnmatch.fnmatchcase(host, name):
                return True
        return False


_IP_PATTERN = re.compile(r"[0-9.*]+|[0-9a-f:*]*:[0-9a-f:*]*")


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class BotanuBaggagePropagator(TextMapPropagator):
    """W3C baggage with botanu's outbound and inbound rules (see the module docstring)."""

    def __init__(self, propagate_to: Sequence[str] = (), trust_inbound: bool = False) -> None:
        self._w3c = W3CBaggagePropagator()
        self.allowed_hosts = HostPatterns(propagate_to)
        self.trust_inbound = trust_inbound

    def inject(
        self, carrier: CarrierT, context: Context | None = None, setter: Setter = default_setter
    ) -> None:
        ctx = context if context is not None else get_current()
        entries = baggage.get_all(ctx)
        identity = tuple(key for key in entries if key in IDENTITY_KEYS)
        if identity and not self._destination_allowed(ctx):
            ctx = with_baggage(ctx, {}, remove=identity)
        self._w3c.inject(carrier, ctx, setter)

    def _destination_allowed(self, ctx: Context) -> bool:
        if not self.allowed_hosts.patterns:
            return False
        destination = _host_of_span(trace.get_current_span(ctx))
        return destination is not None and self.allowed_hosts.allows(*destination)

    def extract(
        self, carrier: CarrierT, context: Context | None = None, getter: Getter = default_getter
    ) -> Context:
        base = context if context is not None else get_current()
        ctx = self._w3c.extract(carrier, base, getter)
        if self.trust_inbound:
            return ctx
        # Every botanu.* entry goes back to what it was before: inbound values neither add
        # entries nor overwrite the ones already in the context.
        before, after = baggage.get_all(base), baggage.get_all(ctx)
        changed = [k for k in after if k.startswith(BOTANU_PREFIX) and after[k] != before.get(k)]
        if changed:
            logger.debug("botanu: ignored inbound baggage %s (trust_inbound_baggage is off)", changed)
            restore = {k: str(before[k]) for k in changed if k in before}
            ctx = with_baggage(ctx, restore, remove=tuple(k for k in changed if k not in before))
        return ctx

    @property
    def fields(self) -> set[str]:
        return self._w3c.fields


def _with_botanu_baggage(
    current: TextMapPropagator, replacement: BotanuBaggagePropagator
) -> TextMapPropagator:
    if isinstance(current, (W3CBaggagePropagator, BotanuBaggagePropagator)):
        return replacement
    inner = getattr(current, "_propagators", None)
    if isinstance(current, CompositePropagator) and isinstance(inner, (list, tuple)):
        return CompositePropagator([_with_botanu_baggage(p, replacement) for p in inner])
    return current


# --------------------------------------------------------------------------- redirects

_redirect_patterns = HostPatterns(())
_redirect_guard_installed = False


def strip_identity(header: str) -> str:
    """A ``baggage`` header value without the identity entries."""
    kept = [
        item
        for item in header.split(",")
        if urllib.parse.unquote(item.split("=", 1)[0].strip()) not in IDENTITY_KEYS
    ]
    return ",".join(kept)


def _guard_headers(headers: object, url: str) -> None:
    """Strip identity from a redirected request's ``baggage`` header unless ``url`` is allowed."""
    try:
        parsed = urllib.parse.urlsplit(url)
        host = (parsed.hostname or "").lower()
        if host and _redirect_patterns.allows(host, parsed.port):
            return
        for name in list(headers):  # type: ignore[call-overload]
            if isinstance(name, str) and name.lower() == "baggage":
                headers[name] = strip_identity(headers[name])  # type: ignore[index]
    except Exception:  # the request goes on either way
        logger.debug("botanu: could not check a redirected request's baggage", exc_info=True)


def _install_redirect_guard() -> None:
    """Re-apply the outbound rule when requests or urllib follow a redirect to another host.

    The header was injected for the first host; a redirect copies it as it is, so an
    allowed internal API that redirects to, say, a pre-signed storage URL would hand the
    customer's identity to that third party.
    """
    global _redirect_guard_installed
    if _redirect_guard_installed:
        return
    _redirect_guard_installed = True
    import wrapt

    def after_rebuild_auth(wrapped, instance, args, kwargs):  # type: ignore[no-untyped-def]
        result = wrapped(*args, **kwargs)
        prepared = args[0] if args else kwargs.get("prepared_request")
        if prepared is not None:
            _guard_headers(prepared.headers, prepared.url or "")
        return result

    def after_redirect_request(wrapped, instance, args, kwargs):  # type: ignore[no-untyped-def]
        new_request = wrapped(*args, **kwargs)
        if new_request is not None:
            _guard_headers(new_request.headers, new_request.full_url)
        return new_request

    try:
        wrapt.wrap_function_wrapper(
            "requests.sessions", "SessionRedirectMixin.rebuild_auth", after_rebuild_auth
        )
    except Exception:  # requests missing or changed: nothing to guard there
        logger.debug("botanu: requests redirect guard not installed", exc_info=True)
    wrapt.wrap_function_wrapper(
        "urllib.request", "HTTPRedirectHandler.redirect_request", after_redirect_request
    )


def install(settings: Settings) -> bool:
    """Swap the global W3C baggage propagator for botanu's; return False if there was none.

    The rest of the configured propagators (``OTEL_PROPAGATORS``: tracecontext, b3 ...)
    stay as they are. If baggage propagation is off entirely, botanu leaves it off.
    """
    global _redirect_patterns
    replacement = BotanuBaggagePropagator(settings.propagate_to, settings.trust_inbound_baggage)
    _redirect_patterns = replacement.allowed_hosts
    _install_redirect_guard()
    current = propagate.get_global_textmap()
    updated = _with_botanu_baggage(current, replacement)
    if updated is current:
        logger.debug("botanu: no W3C baggage propagator configured; run context stays in this process")
        return False
    propagate.set_global_textmap(updated)
    return True


__all__ = ["IDENTITY_KEYS", "BotanuBaggagePropagator", "HostPatterns", "install", "strip_identity"]

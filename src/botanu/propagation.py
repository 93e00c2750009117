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
  malformed baggage is cut to the W3C limits before the SDK's propagator reads it.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import logging
import re
import threading
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
from botanu._safety import contained, warn_once
from botanu._tracecontext import with_conformant_tracecontext
from botanu.context._tracing import with_baggage
from botanu.integrations._headers import note_inbound_trace_id

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


_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def _port_of(parsed: urllib.parse.SplitResult) -> int | None:
    """The URL's port, or its scheme's default (``host:443`` patterns match ``https://host/``)."""
    try:
        port = parsed.port
    except ValueError:  # a port out of range: no port at all
        return None
    return port if port is not None else _DEFAULT_PORTS.get(parsed.scheme.lower())


def _host_of_span(span: trace.Span) -> tuple[str, int | None] | None:
    attributes = getattr(span, "attributes", None) or {}
    host = attributes.get("server.address") or attributes.get("net.peer.name")
    port = attributes.get("server.port") or attributes.get("net.peer.port")
    url = attributes.get("url.full") or attributes.get("http.url")
    parsed = urllib.parse.urlsplit(url) if isinstance(url, str) else None
    if not host:
        if parsed is None:
            return None
        host = parsed.hostname
    if not isinstance(port, int) and parsed is not None:
        port = _port_of(parsed)
    if not isinstance(host, str) or not host:
        return None
    return host.lower().strip("[]"), port if isinstance(port, int) else None


class HostPatterns:
    """Host patterns (``fnmatch`` style, optionally with ``:port``) for ``propagate_to``.

    Common near-misses are read as meant, with one warning each: a URL
    (``https://api.mycorp.com/``) stands for its host and port, and an IPv6 address
    may be written in brackets (``[::1]``, ``[::1]:8443``).
    """

    def __init__(self, patterns: Iterable[str]) -> None:
        self.patterns = tuple(
            normalised for p in patterns if p and p.strip() and (normalised := _normalise(p.strip().lower()))
        )

    def allows(self, host: str, port: int | None = None) -> bool:
        host_is_ip = _is_ip(host)
        for pattern in self.patterns:
            name, want_port = _split_port(pattern)
            if want_port and want_port != "*" and str(port) != want_port:
                continue
            # "10.0.*" names addresses: it must not match a DNS name such as 10.0.attacker.example
            # ("*" alone names every host).
            if _IP_PATTERN.fullmatch(name) and name.strip("*") and not host_is_ip:
                continue
            if fnmatch.fnmatchcase(host, name):
                return True
        return False


_IP_PATTERN = re.compile(r"[0-9.*]+|[0-9a-f:*]*:[0-9a-f:*]*")


def _split_port(pattern: str) -> tuple[str, str]:
    """``(host pattern, port or "")``: ``host:port``, ``[v6]:port``; a bare IPv6 pattern has no port."""
    if pattern.startswith("["):
        host, _, rest = pattern[1:].partition("]")
        return host, rest[1:] if rest.startswith(":") else ""
    if pattern.count(":") == 1:
        host, _, port = pattern.partition(":")
        return host, port
    return pattern, ""


def _normalise(pattern: str) -> str:
    """The pattern as matched; a URL becomes ``host[:port]``; unusable ones are dropped, with a warning."""
    original = pattern
    if "://" in pattern:
        parsed = urllib.parse.urlsplit(pattern)
        host = parsed.hostname or ""
        port = _port_of(parsed) if parsed.hostname else None
        pattern = (f"[{host}]" if ":" in host else host) + (f":{port}" if port else "")
    elif "/" in pattern:
        pattern = pattern.split("/", 1)[0]
    host, port = _split_port(pattern)
    if not host or (port and port != "*" and not port.isdigit()) or any(c in host for c in "/@ "):
        warn_once(
            ("propagate_to", original),
            "botanu: propagate_to pattern %r is not a host pattern; ignored",
            original,
        )
        return ""
    if pattern != original:
        warn_once(
            ("propagate_to", original),
            "botanu: propagate_to pattern %r read as %r (patterns are host names or addresses, optionally "
            "with :port)",
            original,
            pattern,
        )
    return pattern


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _strip_carried_identity(carrier: CarrierT, setter: Setter) -> None:
    """Remove identity entries from a ``baggage`` header the carrier already holds."""
    try:
        existing = carrier.get("baggage") if hasattr(carrier, "get") else None  # type: ignore[union-attr]
        if not isinstance(existing, str):
            return
        kept = strip_identity(existing)
        if kept:
            setter.set(carrier, "baggage", kept)
        else:
            del carrier["baggage"]  # type: ignore[index, attr-defined]
    except Exception:  # an unusual carrier: the header may then stay as the client copied it
        logger.debug("botanu: could not check a carried baggage header", exc_info=True)


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
            if len(identity) == len(entries):
                # Nothing left to inject, so the W3C propagator writes no header: one already in
                # the carrier (httpx copies the first hop's headers to a redirect) must lose it too.
                _strip_carried_identity(carrier, setter)
                return
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
        # TraceHub's X-Trace-ID from a caller without traceparent, for the server span (integrations).
        base = note_inbound_trace_id(carrier, getter, base)
        header = bounded_header(getter.get(carrier, "baggage"))
        if not header:
            return base
        ctx = self._w3c.extract({"baggage": header}, base, default_getter)
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


# --------------------------------------------------------------------------- inbound bounds

# W3C baggage limits (the ones the SDK's propagator applies after warning with the caller's text).
MAX_ENTRIES = 180
MAX_ENTRY_BYTES = 4096
MAX_HEADER_BYTES = 8192
# Each part is checked with one character class, never a pattern that can backtrack: these
# run on every inbound request, on text the caller chose.
_TOKEN_RE = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_OCTETS_RE = re.compile(r"[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]*")  # W3C baggage-octet


def _parse_entry(raw: str) -> tuple[str, str, str | None] | None:
    """``(key, value, properties or None)`` of one list member, or None when it is malformed."""
    head, semi, properties = raw.partition(";")
    key, eq, value = head.partition("=")
    key, value = key.strip(" \t"), value.strip(" \t")
    if not eq or not _TOKEN_RE.fullmatch(key) or not _OCTETS_RE.fullmatch(value):
        return None
    if semi and not all(_valid_property(prop) for prop in properties.split(";")):
        return None
    return key, value, properties.strip(" \t") if semi else None


def _valid_property(prop: str) -> bool:
    name, eq, value = prop.partition("=")
    if not _TOKEN_RE.fullmatch(name.strip(" \t")):
        return False
    return not eq or _OCTETS_RE.fullmatch(value.strip(" \t")) is not None


def bounded_header(values: Sequence[str] | None) -> str:
    """An inbound ``baggage`` header cut to the W3C limits, with malformed entries left out.

    Done before the SDK's propagator sees it, so a hostile or broken caller can neither
    break the request nor fill the log with its header text: what was dropped is
    counted in one warning per process, without the content. Properties
    (``;prop=1``) are kept for the app's entries and removed from ``botanu.*`` ones.
    """
    if not values:
        return ""
    kept: list[str] = []
    size = dropped = 0
    for raw in ",".join(v for v in values if isinstance(v, str)).split(","):
        entry = raw.strip(" \t")
        if not entry:
            continue
        if len(kept) >= MAX_ENTRIES or size >= MAX_HEADER_BYTES:
            dropped += 1  # full: the rest is counted, not parsed
            continue
        parsed = _parse_entry(entry) if len(entry) <= MAX_ENTRY_BYTES and entry.isascii() else None
        if parsed is None:
            dropped += 1
            continue
        key, value, properties = parsed
        if properties is None or urllib.parse.unquote_plus(key).startswith(BOTANU_PREFIX):
            entry = f"{key}={value}"  # botanu's values carry no properties
        else:
            entry = f"{key}={value};{properties}"
        if size + len(entry) + (1 if kept else 0) > MAX_HEADER_BYTES:
            dropped += 1
            continue
        size += len(entry) + (1 if kept else 0)
        kept.append(entry)
    if dropped:
        warn_once(
            "inbound baggage bounded",
            "botanu: left out %d inbound baggage entr%s (malformed, non-ASCII, or beyond the W3C limits of "
            "%d entries, %d bytes each, %d bytes in all); requests go on. Logged once per process.",
            dropped,
            "y" if dropped == 1 else "ies",
            MAX_ENTRIES,
            MAX_ENTRY_BYTES,
            MAX_HEADER_BYTES,
        )
    return ",".join(kept)


def _with_botanu_baggage(
    current: TextMapPropagator, replacement: BotanuBaggagePropagator
) -> TextMapPropagator:
    """``current`` with its baggage propagator swapped for ``replacement`` (itself if it has none)."""
    if isinstance(current, (W3CBaggagePropagator, BotanuBaggagePropagator)):
        return replacement
    inner = getattr(current, "_propagators", None)
    if isinstance(current, CompositePropagator) and isinstance(inner, (list, tuple)):
        swapped = [_with_botanu_baggage(p, replacement) for p in inner]
        if all(new is old for new, old in zip(swapped, inner, strict=True)):
            return current  # no baggage propagator inside: nothing to change
        return CompositePropagator(swapped)
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
        if host and _redirect_patterns.allows(host, _port_of(parsed)):
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
    customer's identity to that third party. requests, urllib and aiohttp are guarded;
    httpx and urllib3 build each hop's headers anew, through the instrumentation.
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
    # aiohttp is guarded when (and only if) the app imports it.
    wrapt.register_post_import_hook(_guard_aiohttp_redirects, "aiohttp")


def _guard_aiohttp_redirects(aiohttp: object) -> None:
    """Give every aiohttp ClientSession a trace config that re-applies the rule on redirects.

    aiohttp sends one request object's headers to every hop, and tells trace configs
    about a redirect (with the response, hence its Location) before the next hop is
    built from those same headers: the one place to strip identity for a new host.
    """
    import wrapt

    try:
        import aiohttp as aiohttp_module
        from yarl import URL

        async def on_redirect(session: object, trace_ctx: object, params: object) -> None:
            response = params.response  # type: ignore[attr-defined]
            location = response.headers.get("Location") or response.headers.get("URI")
            if not location:
                return
            try:
                target = str(params.url.join(URL(location)))  # type: ignore[attr-defined]
            except Exception:  # a malformed Location: aiohttp reports it; identity goes nowhere meanwhile
                target = ""
            _guard_headers(params.headers, target)  # type: ignore[attr-defined]

        def with_guard(wrapped, instance, args, kwargs):  # type: ignore[no-untyped-def]
            guard = aiohttp_module.TraceConfig()
            guard.on_request_redirect.append(on_redirect)
            kwargs["trace_configs"] = [*(kwargs.get("trace_configs") or ()), guard]
            return wrapped(*args, **kwargs)

        wrapt.wrap_function_wrapper(aiohttp_module, "ClientSession.__init__", with_guard)
    except Exception:  # an aiohttp without trace configs: nothing to guard there
        logger.debug("botanu: aiohttp redirect guard not installed", exc_info=True)


# The global propagator last seen to apply botanu's rules (or to send no baggage at all).
_checked: TextMapPropagator | None = None
_settings: Settings | None = None
# init() and a run starting on another thread must not both install rules (the environment's
# could replace init()'s); re-entrant because ensure_rules() calls install().
_rules_lock = threading.RLock()


def install(settings: Settings, *, tracecontext: bool = True) -> bool:
    """Swap the global W3C baggage propagator for botanu's; return False if there was none.

    The SDK's W3C trace-context propagator is swapped too, for botanu's conformant one
    (``botanu._tracecontext``); with ``tracecontext=False`` only when the baggage
    propagator is replaced anyway. The rest of the configured
    propagators (``OTEL_PROPAGATORS``: b3 ...) stay as they are. If baggage propagation
    is off entirely, botanu leaves it off.
    """
    global _redirect_patterns, _checked, _settings
    with _rules_lock:
        _settings = settings
        replacement = BotanuBaggagePropagator(settings.propagate_to, settings.trust_inbound_baggage)
        _redirect_patterns = replacement.allowed_hosts
        _install_redirect_guard()
        current = propagate.get_global_textmap()
        with_rules = _with_botanu_baggage(current, replacement)
        # Trace context is set up at init (and by botanu run's configurator), also when there
        # is no baggage propagator. The run-start check (ensure_rules) guards identity: it
        # leaves a set-up without baggage as it is, and swaps both when it replaces anyway.
        replacing = with_rules is not current
        updated = with_conformant_tracecontext(with_rules) if tracecontext or replacing else with_rules
        _checked = updated
        if updated is not current:
            propagate.set_global_textmap(updated)
        if not replacing:
            logger.debug("botanu: no W3C baggage propagator configured; run context stays in this process")
            return False
        return True


def ensure_rules() -> None:
    """Make sure the global propagator applies botanu's rules before identity enters baggage.

    Called when a run or session starts. Cheap when nothing changed (one identity
    check). If the W3C baggage propagator in use is not botanu's — ``botanu.init()``
    was never called, another configurator set propagation up, or the app replaced it
    later — botanu's rules are put in its place (settings from the environment), so
    business identity still goes only to ``propagate_to`` hosts.
    """
    if propagate.get_global_textmap() is _checked:
        return
    with contained("checking the baggage propagator"), _rules_lock:
        current = propagate.get_global_textmap()
        if current is _checked:
            return  # another thread (or init()) installed the rules meanwhile
        settings = _settings
        if settings is None:
            from botanu._config import resolve_settings

            settings = resolve_settings({})
        if install(settings, tracecontext=False):
            warn_once(
                "propagator replaced",
                "botanu: the W3C baggage propagator in use did not apply botanu's rules (botanu.init() not "
                "called, or another configurator set it up); botanu put its own in place, so business "
                "identity in baggage goes only to propagate_to hosts. Current propagator was %s.",
                type(current).__name__,
            )


def _forget_for_tests() -> None:
    global _checked, _settings
    _checked = _settings = None


__all__ = [
    "IDENTITY_KEYS",
    "BotanuBaggagePropagator",
    "HostPatterns",
    "bounded_header",
    "ensure_rules",
    "install",
    "strip_identity",
]

"""Baggage trust boundaries, in-process: which entries leave, and which inbound entries are kept."""

from __future__ import annotations

import pytest
from opentelemetry import baggage, context, propagate, trace
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from botanu._config import resolve_settings
from botanu.propagation import BotanuBaggagePropagator, HostPatterns, install

tracer = TracerProvider().get_tracer("test")


def _identity_context():
    ctx = baggage.set_baggage("botanu.run_id", "r-1")
    ctx = baggage.set_baggage("botanu.customer_id", "cus-1", ctx)
    ctx = baggage.set_baggage("botanu.tenant_id", "t-1", ctx)
    return baggage.set_baggage("team", "checkout", ctx)


def _inject_for(propagator, url=None, **attributes):
    ctx = _identity_context()
    if url is not None:
        attributes["url.full"] = url
    carrier: dict[str, str] = {}
    token = context.attach(ctx)
    try:
        if attributes:
            with tracer.start_as_current_span("GET", kind=trace.SpanKind.CLIENT, attributes=attributes):
                propagator.inject(carrier)
        else:
            propagator.inject(carrier)
    finally:
        context.detach(token)
    return carrier.get("baggage", "")


@pytest.mark.parametrize(
    ("patterns", "host", "port", "allowed"),
    [
        (["api.mycorp.com"], "api.mycorp.com", 443, True),
        (["*.internal"], "billing.svc.internal", None, True),
        (["*.internal"], "api.openai.com", 443, False),
        (["10.0.*"], "10.0.3.4", 80, True),
        (["orders:8443"], "orders", 8443, True),
        (["orders:8443"], "orders", 443, False),
        (["::1"], "::1", 80, True),
        ([], "localhost", 80, False),
    ],
)
def test_host_patterns(patterns, host, port, allowed):
    assert HostPatterns(patterns).allows(host, port) is allowed


def test_identity_stripped_for_third_parties_kept_for_allowed_hosts():
    propagator = BotanuBaggagePropagator(propagate_to=["*.mycorp.com"])
    to_vendor = _inject_for(propagator, "https://api.openai.com/v1/chat?x=1")
    to_own = _inject_for(propagator, "https://orders.mycorp.com/api")
    unknown = _inject_for(propagator)  # no client span: destination unknown
    assert "botanu.run_id=r-1" in to_vendor and "team=checkout" in to_vendor
    assert "customer_id" not in to_vendor and "tenant_id" not in to_vendor
    assert "customer_id" not in unknown
    assert "botanu.customer_id=cus-1" in to_own and "botanu.tenant_id=t-1" in to_own


def test_allowed_host_from_semconv_attributes():
    propagator = BotanuBaggagePropagator(propagate_to=["orders.mycorp.com"])
    header = _inject_for(propagator, **{"server.address": "orders.mycorp.com", "server.port": 443})
    assert "botanu.customer_id=cus-1" in header and "botanu.tenant_id=t-1" in header


def test_inbound_botanu_entries_dropped_unless_trusted():
    carrier = {"baggage": "botanu.run_id=forged,botanu.customer_id=evil,app.region=eu"}
    untrusted = BotanuBaggagePropagator(trust_inbound=False).extract(carrier)
    trusted = BotanuBaggagePropagator(trust_inbound=True).extract(carrier)
    assert dict(baggage.get_all(untrusted)) == {"app.region": "eu"}
    assert baggage.get_baggage("botanu.customer_id", trusted) == "evil"


def test_install_replaces_only_the_baggage_propagator():
    previous = propagate.get_global_textmap()
    try:
        propagate.set_global_textmap(
            CompositePropagator([TraceContextTextMapPropagator(), propagate.get_global_textmap()])
        )
        assert install(resolve_settings({"propagate_to": ["a.example"]}, {}))
        fields = propagate.get_global_textmap().fields
        assert {"traceparent", "baggage"} <= set(fields)
        header = _inject_for(propagate.get_global_textmap(), "http://b.example/")
        assert "botanu.run_id=r-1" in header and "customer_id" not in header
    finally:
        propagate.set_global_textmap(previous)


@pytest.mark.parametrize("host", ["10.0.attacker.example", "10.0.0.1.nip.io"])
def test_address_patterns_do_not_match_dns_names(host):
    assert not HostPatterns(["10.0.*"]).allows(host, 443)
    assert HostPatterns(["10.0.*"]).allows("10.0.7.1", 443)


def test_inbound_values_never_overwrite_the_local_run_when_untrusted():
    local = baggage.set_baggage("botanu.customer_id", "acme")
    carrier = {"baggage": "botanu.customer_id=EVIL,botanu.run_id=forged,app.flag=1"}
    ctx = BotanuBaggagePropagator(trust_inbound=False).extract(carrier, context=local)
    assert dict(baggage.get_all(ctx)) == {"botanu.customer_id": "acme", "app.flag": "1"}


def test_identity_rules_apply_even_when_export_is_disabled(clean_botanu, monkeypatch):
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    from botanu import init

    init(instrumentations=False)
    header = _inject_for(propagate.get_global_textmap(), "https://api.vendor.example/v1")
    assert "botanu.run_id=r-1" in header and "customer_id" not in header

"""Baggage trust boundaries, in-process: which entries leave, and which inbound entries are kept."""

from __future__ import annotations

import logging

import pytest
from opentelemetry import baggage, context, propagate, trace
from opentelemetry.baggage.propagation import W3CBaggagePropagator
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


@pytest.mark.parametrize(
    ("pattern", "url", "allowed"),
    [
        ("api.mycorp.com:443", "https://api.mycorp.com/v1", True),
        ("localhost:80", "http://localhost/x", True),
        ("localhost:80", "http://localhost:8080/x", False),
        ("api.mycorp.com:80", "https://api.mycorp.com/v1", False),
    ],
)
def test_host_port_patterns_match_urls_that_leave_out_the_default_port(pattern, url, allowed):
    header = _inject_for(BotanuBaggagePropagator(propagate_to=[pattern]), url)
    assert ("botanu.customer_id=cus-1" in header) is allowed
    # The same with semconv attributes that name the host but not the port.
    header = _inject_for(
        BotanuBaggagePropagator(propagate_to=[pattern]),
        **{"server.address": url.split("/")[2].split(":")[0], "url.full": url},
    )
    assert ("botanu.customer_id=cus-1" in header) is allowed


def test_inbound_header_is_cut_to_the_w3c_limits_without_logging_its_content(caplog):
    hostile = "SECRET-LOOKING-CALLER-TEXT"
    entries = [f"k{i}=v" for i in range(300)]
    header = ",".join([f"bad entry {hostile}", f"ok=1;{hostile}", "é=1", *entries])
    with caplog.at_level(logging.DEBUG):
        ctx = BotanuBaggagePropagator(trust_inbound=True).extract({"baggage": header})
    kept = baggage.get_all(ctx)
    assert len(kept) == 180  # the W3C limit on entries
    assert "k0" in kept and "bad" not in str(kept)
    assert hostile not in caplog.text
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "left out" in warnings[0].getMessage()


def test_an_oversized_header_keeps_the_entries_that_fit():
    header = "app.region=eu,botanu.run_id=r-9," + ",".join(f"pad{i}=" + "x" * 1000 for i in range(20))
    ctx = BotanuBaggagePropagator(trust_inbound=True).extract({"baggage": header})
    kept = baggage.get_all(ctx)
    assert kept["app.region"] == "eu" and kept["botanu.run_id"] == "r-9"
    assert 0 < sum(1 for key in kept if key.startswith("pad")) < 20


def test_trusted_botanu_values_lose_their_w3c_properties_the_apps_keep_them():
    carrier = {"baggage": "botanu.customer_id=c1;prop=1;other,botanu.parent_run_id=r;x,app.k=v;p=1"}
    kept = baggage.get_all(BotanuBaggagePropagator(trust_inbound=True).extract(carrier))
    assert kept["botanu.customer_id"] == "c1" and kept["botanu.parent_run_id"] == "r"
    assert kept["app.k"].startswith("v")


def test_a_run_puts_botanus_rules_in_place_of_a_plain_baggage_propagator(clean_botanu, caplog):
    # As after opentelemetry-instrument with another configurator, and no botanu.init().
    import botanu

    previous = propagate.get_global_textmap()
    try:
        propagate.set_global_textmap(
            CompositePropagator([TraceContextTextMapPropagator(), W3CBaggagePropagator()])
        )
        with caplog.at_level(logging.WARNING, logger="botanu"):
            with botanu.event(event_id="o1", customer_id="cus-1", workflow="W"):
                header = _inject_for(propagate.get_global_textmap(), "https://api.vendor.example/v1")
            with botanu.event(event_id="o2", customer_id="cus-2", workflow="W"):
                pass
        assert "botanu.run_id=r-1" in header and "customer_id" not in header
        assert caplog.text.count("did not apply botanu's rules") == 1
        # The app replacing the propagator later is caught at the next run.
        propagate.set_global_textmap(W3CBaggagePropagator())
        with botanu.event(event_id="o3", customer_id="cus-3", workflow="W"):
            header = _inject_for(propagate.get_global_textmap(), "https://api.vendor.example/v1")
        assert "customer_id" not in header
        # With no baggage propagator at all there is nothing to guard, and nothing is added.
        propagate.set_global_textmap(TraceContextTextMapPropagator())
        with botanu.event(event_id="o4", customer_id="cus-4", workflow="W"):
            assert isinstance(propagate.get_global_textmap(), TraceContextTextMapPropagator)
    finally:
        propagate.set_global_textmap(previous)


def test_a_session_puts_botanus_rules_in_place_too(clean_botanu):
    import botanu

    previous = propagate.get_global_textmap()
    try:
        propagate.set_global_textmap(W3CBaggagePropagator())
        with botanu.session(user_id="u-1", session_id="s-1"):
            carrier: dict[str, str] = {}
            with tracer.start_as_current_span(
                "GET", kind=trace.SpanKind.CLIENT, attributes={"url.full": "https://api.vendor.example/"}
            ):
                propagate.get_global_textmap().inject(carrier)
        assert "u-1" not in carrier.get("baggage", "") and "s-1" not in carrier.get("baggage", "")
    finally:
        propagate.set_global_textmap(previous)


@pytest.mark.parametrize(
    ("pattern", "host", "port", "allowed"),
    [
        ("https://api.mycorp.com", "api.mycorp.com", 443, True),
        ("https://api.mycorp.com", "api.mycorp.com", 80, False),
        ("api.mycorp.com/", "api.mycorp.com", 443, True),
        ("[::1]", "::1", 8080, True),
        ("[::1]", "1", 8080, False),
        ("[::1]:8443", "::1", 8443, True),
        ("[::1]:8443", "::1", 443, False),
        ("orders:*", "orders", 9000, True),
    ],
)
def test_url_and_bracketed_patterns_are_read_as_meant(pattern, host, port, allowed):
    assert HostPatterns([pattern]).allows(host, port) is allowed


def test_unusable_patterns_are_ignored_with_one_warning(caplog):
    with caplog.at_level(logging.WARNING, logger="botanu"):
        patterns = HostPatterns(["user@host", "host:http", "ok.example"])
    assert patterns.patterns == ("ok.example",)
    assert "'user@host' is not a host pattern" in caplog.text and "'host:http'" in caplog.text


@pytest.mark.timeout(10)
def test_a_hostile_header_costs_no_backtracking():
    # One entry of 64 KB of blanks before a stray quote: a backtracking pattern took minutes.
    hostile = {"baggage": "k=" + " " * 65536 + '"' + ",app=1"}
    ctx = BotanuBaggagePropagator(trust_inbound=True).extract(hostile)
    assert baggage.get_all(ctx) == {"app": "1"}


@pytest.mark.parametrize("bad", ['app=1;"caller-text"', "app=1;", "app=1;\x01x", "app=1;p=\\x"])
def test_entries_with_malformed_properties_are_left_out_before_the_sdk_sees_them(bad, caplog):
    with caplog.at_level(logging.DEBUG):
        ctx = BotanuBaggagePropagator(trust_inbound=True).extract({"baggage": f"{bad},ok=2"})
    assert dict(baggage.get_all(ctx)) == {"ok": "2"}
    assert "caller-text" not in caplog.text and "Invalid baggage" not in caplog.text


def test_a_percent_encoded_botanu_key_loses_its_properties_too():
    carrier = {"baggage": "botanu%2Ecustomer_id=c1;p=1"}
    kept = baggage.get_all(BotanuBaggagePropagator(trust_inbound=True).extract(carrier))
    assert kept == {"botanu.customer_id": "c1"}


def test_a_carried_header_loses_identity_when_nothing_else_is_left_to_inject():
    # httpx copies the first hop's headers to a redirect; with only identity in the baggage the
    # W3C propagator writes no new header, so the copied one must be cleaned here.
    propagator = BotanuBaggagePropagator(propagate_to=["own.example"])
    ctx = baggage.set_baggage("botanu.user_id", "alice")
    for carried, expected in [
        ({"baggage": "botanu.user_id=alice"}, {}),
        ({"baggage": "botanu.user_id=alice,app=1"}, {"baggage": "app=1"}),
    ]:
        token = context.attach(ctx)
        try:
            with tracer.start_as_current_span(
                "GET", kind=trace.SpanKind.CLIENT, attributes={"url.full": "https://vendor.example/"}
            ):
                propagator.inject(carried)
        finally:
            context.detach(token)
        assert carried == expected


def test_no_warning_and_no_change_without_a_baggage_propagator(clean_botanu, caplog):
    import botanu

    previous = propagate.get_global_textmap()
    try:
        only_tracecontext = CompositePropagator([TraceContextTextMapPropagator()])
        propagate.set_global_textmap(only_tracecontext)
        with caplog.at_level(logging.WARNING, logger="botanu"):
            with botanu.event(event_id="o1", customer_id="c", workflow="W"):
                pass
        assert propagate.get_global_textmap() is only_tracecontext
        assert "did not apply botanu's rules" not in caplog.text
    finally:
        propagate.set_global_textmap(previous)


def test_a_lone_star_pattern_names_every_host():
    assert HostPatterns(["*"]).allows("api.vendor.example", 443)
    assert HostPatterns(["*:8443"]).allows("api.vendor.example", 8443)
    assert not HostPatterns(["*:8443"]).allows("api.vendor.example", 443)

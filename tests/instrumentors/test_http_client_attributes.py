"""URL and server attributes for connection shapes a loopback test cannot reach (no I/O)."""

from __future__ import annotations

import http.client

import pytest

from botanu_instrumentation.http_client._attributes import request_attributes


def _url(conn: http.client.HTTPConnection, target: str = "/x?y=1") -> tuple[object, object, object]:
    attributes = request_attributes(conn, "GET", target)
    return attributes["url.full"], attributes["server.address"], attributes["server.port"]


def test_https_default_port_is_left_out_of_the_url() -> None:
    assert _url(http.client.HTTPSConnection("api.example.test")) == (
        "https://api.example.test/x?y=1",
        "api.example.test",
        443,
    )


def test_non_default_port_is_kept() -> None:
    assert (
        _url(http.client.HTTPSConnection("api.example.test", 8443))[0]
        == "https://api.example.test:8443/x?y=1"
    )
    assert _url(http.client.HTTPConnection("api.example.test"))[0] == "http://api.example.test/x?y=1"


def test_ipv6_literal_is_bracketed_in_the_url_only() -> None:
    assert _url(http.client.HTTPConnection("[::1]:8080")) == ("http://[::1]:8080/x?y=1", "::1", 8080)


def test_tunnel_reports_the_origin_not_the_proxy() -> None:
    conn = http.client.HTTPSConnection("proxy.example.test", 3128)
    conn.set_tunnel("api.example.test")
    assert _url(conn) == ("https://api.example.test/x?y=1", "api.example.test", 443)


def test_absolute_form_target_drops_userinfo() -> None:
    conn = http.client.HTTPConnection("proxy.example.test", 3128)
    target = "http://user:secret@api.example.test:8080/p?q=1#frag"
    assert _url(conn, target) == ("http://api.example.test:8080/p?q=1", "api.example.test", 8080)


def test_urllib3_https_connection_is_https() -> None:
    connection = pytest.importorskip("urllib3.connection")
    assert _url(connection.HTTPSConnection("api.example.test"))[0] == "https://api.example.test/x?y=1"

"""A URL scanned clean under its key is remembered as a pair, and never vouches for another URL."""

from __future__ import annotations

from botanu.redaction import Redactor

SECRET = "sk_live_4eC39HqLyjWDarjtT1zdp7dc"
CLEAN_URL = "http://127.0.0.1:8080/v1/orders?page=2"


def test_a_repeated_clean_url_is_known_clean_with_its_key():
    redactor = Redactor()
    attributes = {"url.full": CLEAN_URL, "http.request.method": "GET", "server.port": 8080}
    assert not redactor._known_clean(attributes)
    assert redactor.redact_attributes(attributes)[0] == attributes
    assert not redactor._known_clean(attributes)  # seen once: not yet trusted
    assert redactor.redact_attributes(attributes)[0] == attributes
    assert redactor._known_clean(attributes)
    # The pair, not the value: the same text under a plain key is judged on its own.
    assert ("url.full", CLEAN_URL) in redactor._url_pairs
    assert CLEAN_URL not in redactor._clean_values


def test_urls_that_never_repeat_do_not_push_out_what_does_repeat():
    redactor = Redactor()
    plain = {"http.request.method": "GET", "app.region": "eu-west-1", "server.port": 8080}
    redactor.redact_attributes(plain)
    assert redactor._known_clean(plain)
    for n in range(6000):  # more than any cache holds
        redactor.redact_attributes({"url.full": f"http://127.0.0.1/orders/{n}?page=2"})
    assert redactor._known_clean(plain)
    assert not redactor._url_pairs  # none repeated, none trusted


def test_another_url_under_the_same_key_is_still_redacted():
    redactor = Redactor()
    for _ in range(3):
        redactor.redact_attributes({"url.full": CLEAN_URL})
    dirty = f"http://127.0.0.1:8080/v1/orders?api_key={SECRET}"
    assert not redactor._known_clean({"url.full": dirty})
    redacted = redactor.redact_attributes({"url.full": dirty})[0]
    assert SECRET not in redacted["url.full"]
    assert ("url.full", dirty) not in redactor._url_pairs


def test_a_redacted_url_is_never_remembered():
    redactor = Redactor()
    dirty = f"http://user:{SECRET}@127.0.0.1/x"
    for _ in range(3):
        redacted = redactor.redact_attributes({"url.full": dirty})[0]
        assert SECRET not in redacted["url.full"]
    assert not any(value == dirty for _, value in redactor._url_pairs)


def test_a_pair_known_clean_does_not_excuse_an_unknown_plain_value():
    redactor = Redactor()
    for _ in range(2):
        redactor.redact_attributes({"url.full": CLEAN_URL, "app.note": "fine words here"})
    assert not redactor._known_clean({"url.full": CLEAN_URL, "app.note": f"token {SECRET}"})
    redacted = redactor.redact_attributes({"url.full": CLEAN_URL, "app.note": f"token {SECRET}"})[0]
    assert SECRET not in redacted["app.note"]

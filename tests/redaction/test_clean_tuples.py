"""Short tuples of clean words are remembered like scalars, and never vouch for anything else."""

from __future__ import annotations

from botanu.redaction import Redactor

SECRET = "sk_live_4eC39HqLyjWDarjtT1zdp7dc"


def test_a_repeated_tuple_of_clean_words_is_known_clean_after_two_sightings():
    redactor = Redactor()
    attributes = {"gen_ai.response.finish_reasons": ("stop", "length"), "gen_ai.request.model": "gpt-4o"}
    for _ in range(2):
        assert redactor.redact_attributes(attributes)[0] == attributes
    assert redactor._known_clean(attributes)


def test_a_tuple_with_a_secret_under_a_key_whose_clean_tuples_are_known_is_still_redacted():
    redactor = Redactor()
    for _ in range(3):
        redactor.redact_attributes({"app.tags": ("red", "blue")})
    redacted = redactor.redact_attributes({"app.tags": ("red", SECRET)})[0]
    assert SECRET not in repr(redacted)
    assert redacted["app.tags"][0] == "red"


def test_tuples_with_floats_are_never_remembered():
    # 4111111111111111.0 == 4111111111111111 in a set: a float must never vouch for a card number.
    redactor = Redactor()
    for _ in range(3):
        redactor.redact_attributes({"app.values": (4111111111111111.0,)})
    assert ("app.values", (4111111111111111.0,)) not in redactor._clean_items

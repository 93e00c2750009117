"""Values new to the caches under known plain keys (a model call's response id, its token counts)
are judged on the known-clean path, and that path agrees with the full walk on every value."""

from __future__ import annotations

import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from botanu.redaction import Redactor

from .corpus import SECRETS

ID_KEY = "gen_ai.response.id"


def call(response_id: object, input_tokens: int = 12, output_tokens: int = 7) -> dict[str, object]:
    return {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.response.model": "gpt-4o-2024-08-06",
        "gen_ai.response.finish_reasons": ("stop",),
        ID_KEY: response_id,
        "gen_ai.usage.input_tokens": input_tokens,
        "gen_ai.usage.output_tokens": output_tokens,
        "botanu.run_id": "01a242ba-42c9-75c4-8072-e41cd78a16a0",
    }


def warmed() -> Redactor:
    """A redactor that has seen a few model calls: every key and the repeating values are known."""
    redactor = Redactor()
    for n in range(3):
        redactor.redact_attributes(call(f"chatcmpl-Warm{n:04d}AbCdEfGhIjKlMnOpQr", 100 + n, 10 + n))
    return redactor


def test_a_call_whose_only_new_values_are_its_id_and_counts_is_known_clean():
    redactor = warmed()
    cached = len(redactor._text_cache)
    for n, response_id in enumerate(
        [
            "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT",
            "msg_01XFDUDYJgAACzvnptvVoYEL",
            "resp_67ccd2bed1ec8190b14f964abc0542670bb6a6b452d3795b",
        ]
    ):
        attributes = call(response_id, 1234 + n, 567 + n)
        # The same object back, and (below) nothing cached: the known-clean path, not the walk.
        assert redactor.redact_attributes(attributes) == (attributes, 0, ())
    # Such ids rarely repeat: they are not cached (they would push repeating text out of the caches)
    assert len(redactor._text_cache) == cached
    assert "msg_01XFDUDYJgAACzvnptvVoYEL" not in redactor._clean_values
    # unless they do: an id seen a second time is known clean from then on.
    redactor.redact_attributes(call("msg_01XFDUDYJgAACzvnptvVoYEL"))
    assert "msg_01XFDUDYJgAACzvnptvVoYEL" in redactor._clean_values
    assert len(redactor._text_cache) == cached


def test_ids_that_never_repeat_stay_out_of_the_clean_set_and_bounded():
    redactor = warmed()
    clean = set(redactor._clean_values)
    for n in range(10_000):
        assert redactor._known_clean(call(f"chatcmpl-{n:012d}AbCdEfGhIjKlMnOp", n, n))
    assert redactor._clean_values == clean
    assert len(redactor._ids_seen_clean) <= 4096


def test_every_secret_of_the_corpus_in_place_of_the_id_is_redacted_as_by_a_fresh_redactor():
    for secret in SECRETS:
        warm = warmed().redact_attributes(call(secret.text))
        cold = Redactor().redact_attributes(call(secret.text))
        assert warm == cold, secret.kind
        assert secret.needle not in repr(warm[0]), secret.kind


def test_large_numbers_and_other_values_still_take_the_full_walk():
    redactor = warmed()
    card = 4111111111111111
    assert not redactor._known_clean(call("chatcmpl-x", card))
    redacted = redactor.redact_attributes(call("chatcmpl-x", card))
    assert str(card) not in repr(redacted[0])
    assert not redactor._known_clean(call("chatcmpl-" + "a" * 200))  # longer than an id
    assert not redactor._known_clean(call("two words here and more"))  # not id-shaped: cached text


_ID_ALPHABET = string.ascii_letters + string.digits
_prefixes = st.sampled_from(
    ["", "chatcmpl-", "msg_", "resp_", "sk-", "sk-proj-", "sk_live_", "ghp_", "xoxb-", "AKIA", "eyJ", "npm_"]
)
_words = st.text(alphabet=_ID_ALPHABET, min_size=1, max_size=40)
_ids = st.builds(
    lambda prefix, words, separator: prefix + separator.join(words),
    _prefixes,
    st.lists(_words, min_size=1, max_size=4),
    st.sampled_from(["-", "_", "."]),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(response_id=_ids, digits=st.text(alphabet=string.digits + "-", min_size=0, max_size=24))
def test_the_known_clean_path_agrees_with_the_full_walk(response_id, digits):
    """Whatever an id-shaped value holds (token prefixes, digit runs, card-like groups), the warmed
    redactor's answer is the fresh redactor's."""
    redactor = warmed()
    for value in (response_id, response_id + digits, digits + response_id):
        attributes = call(value)
        assert redactor.redact_attributes(attributes) == Redactor().redact_attributes(attributes), value

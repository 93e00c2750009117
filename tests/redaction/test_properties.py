"""Property-based tests: the redactor never raises, and a planted secret never gets through."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from botanu.redaction import Redactor

from .corpus import SECRETS

REDACTORS = {mode: Redactor(mode=mode) for mode in ("mask", "remove", "hash")}
PII = Redactor(pii=True, extra_patterns=[r"EMP-\d{6}"])

# Any code point, lone surrogates included (they occur in strings decoded with surrogateescape).
any_text = st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=200)
huge_text = st.builds(
    lambda piece, n: piece * n, st.text(max_size=12), st.integers(min_value=1_000, max_value=8_000)
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    any_text,
    st.binary(max_size=200),
    st.sampled_from([s.text for s in SECRETS]),
)
values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.tuples(children, children),
        st.dictionaries(st.text(max_size=12), children, max_size=4),
    ),
    max_leaves=12,
)
keys = st.one_of(
    st.text(max_size=40), st.sampled_from(["password", "url.full", "url.query", "http.target", "key"])
)

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(key=keys, value=values)
def test_redact_value_never_raises(key: str, value: Any) -> None:
    for redactor in (*REDACTORS.values(), PII):
        redactor.redact_value(key, value)


@FAST
@given(attributes=st.dictionaries(st.one_of(keys, st.integers(), st.none()), values, max_size=6))
def test_redact_attributes_never_raises_and_keeps_keys_or_renames(attributes: dict[Any, Any]) -> None:
    out, count, rules = REDACTORS["mask"].redact_attributes(attributes)
    assert count >= 0 and isinstance(rules, tuple)
    assert len(out) <= len(attributes)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=huge_text)
def test_huge_strings(text: str) -> None:
    REDACTORS["mask"].redact_text(text)
    PII.redact_text(text)


# Context-free secrets: recognisable without a key or prefix word around them.
PLANTABLE = list(SECRETS)
# The text around a planted secret is random, but separated from it by a boundary.
surrounding = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=80)
boundaries = st.sampled_from(
    [" ", "\n", "\t", " (", ") ", '"', "'", ", ", "; ", " = ", ": ", "[", "]", "<", ">"]
)


@settings(max_examples=400, deadline=None)
@given(
    secret=st.sampled_from(PLANTABLE),
    before=surrounding,
    after=surrounding,
    left=boundaries,
    right=boundaries,
    mode=st.sampled_from(sorted(REDACTORS)),
)
def test_planted_secret_never_gets_through(
    secret: Any, before: str, after: str, left: str, right: str, mode: str
) -> None:
    text = before + left + secret.text + right + after
    out = REDACTORS[mode].redact_text(text)
    assert secret.needle not in out
    for extra in secret.also:
        assert extra not in out


@settings(max_examples=150, deadline=None)
@given(secret=st.sampled_from(SECRETS), noise=st.lists(any_text, max_size=3))
def test_planted_secret_in_structures(secret: Any, noise: list[str]) -> None:
    value = {"data": [*noise, {"note": f"see {secret.text} now"}], "tags": (secret.text,)}
    out = REDACTORS["mask"].redact_value("app.payload", value)
    assert secret.needle not in repr(out)

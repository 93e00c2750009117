"""The three replacement modes: mask (default), remove, hash."""

from __future__ import annotations

import hashlib
import hmac
import re

import pytest

from botanu.redaction import Redactor

from .corpus import SECRETS, Secret

ANTHROPIC = "sk-ant-api03-Xy9Zw8Vu7Ts6Rq5Po4Nm3Lk2Ji1Hg0Fe9Dc8Ba7Zy6Xw5Vu4Ts3Rq2Po1Nm0Lk9Ji8"


def test_mask_keeps_only_a_public_prefix_and_the_length_of_known_formats() -> None:
    redactor = Redactor()
    assert redactor.mode == "mask"
    assert redactor.redact_text(ANTHROPIC) == f"sk-ant-…[{len(ANTHROPIC) - 7} chars]"
    assert redactor.redact_text("Bearer abcdef0123456789") == "Bearer …[16 chars]"
    assert redactor.redact_text("AKIAZ7Q3XK5MPLR4TN2W") == "AKIA…[16 chars]"
    # Found by its name, a secret may be human-chosen: its length is not shown.
    assert redactor.redact_text("password=hunter2") == "password=[REDACTED]"
    assert redactor.redact_value("password", "x") == "[REDACTED]"


def test_mask_hint_for_whole_values_only_when_the_value_is_that_token() -> None:
    redactor = Redactor()
    assert redactor.redact_value("api_key", ANTHROPIC).startswith("sk-ant-…[")
    # A password that merely starts like a key prefix must not show that prefix.
    assert redactor.redact_value("password", "sk-mypassword") == "[REDACTED]"


def _random_part(secret: Secret) -> str:
    """The part of the needle after any public prefix (what mask must never show)."""
    needle = secret.needle
    for prefix in (
        "sk-ant-api03-",
        "sk-proj-",
        "sk-",
        "sk_live_",
        "sk_test_",
        "rk_live_",
        "pk_live_",
        "github_pat_",
    ):
        if needle.startswith(prefix):
            return needle[len(prefix) :]
    return needle[5:] if len(needle) > 12 else needle


@pytest.mark.parametrize("secret", SECRETS, ids=lambda s: s.kind)
def test_mask_never_shows_four_characters_of_the_random_part(secret: Secret) -> None:
    out = Redactor().redact_text(f"value: {secret.text}")
    random_part = re.sub(r"\s", "", _random_part(secret))
    shown = re.sub(r"\s", "", out)
    windows = {random_part[i : i + 6] for i in range(len(random_part) - 5)}
    assert not [w for w in windows if w in shown and w.strip("-_.:/ ")], out


def test_remove_mode() -> None:
    redactor = Redactor(mode="remove")
    assert redactor.redact_text(f"key {ANTHROPIC} end") == "key [REDACTED] end"
    assert redactor.redact_value("password", 1234) == "[REDACTED]"


def test_hash_mode_is_a_keyed_hmac() -> None:
    redactor = Redactor(mode="hash", hash_key="k3y")
    expected = hmac.new(b"k3y", ANTHROPIC.encode(), hashlib.sha256).hexdigest()[:12]
    assert redactor.redact_text(ANTHROPIC) == f"[HMAC:{expected}]"
    # Equal secrets correlate, different keys do not.
    assert redactor.redact_value("api_key", ANTHROPIC) == f"[HMAC:{expected}]"
    assert Redactor(mode="hash", hash_key=b"other").redact_text(ANTHROPIC) != f"[HMAC:{expected}]"


def test_hash_mode_without_a_key_uses_one_random_key_per_process() -> None:
    first, second = Redactor(mode="hash"), Redactor(mode="hash")
    out = first.redact_text(ANTHROPIC)
    assert re.fullmatch(r"\[HMAC:[0-9a-f]{12}\]", out)
    assert second.redact_text(ANTHROPIC) == out
    unkeyed = hmac.new(b"", ANTHROPIC.encode(), hashlib.sha256).hexdigest()[:12]
    assert unkeyed not in out


@pytest.mark.parametrize("mode", ["mask", "remove", "hash"])
def test_redacting_twice_changes_nothing(mode: str) -> None:
    redactor = Redactor(mode=mode)
    attributes = {"password": "hunter2", "note": f"use {ANTHROPIC}", "url.full": "https://u:p@h/x?token=abc"}
    once, count, _ = redactor.redact_attributes(attributes)
    assert count == 4
    twice, again, _ = redactor.redact_attributes(once)
    assert twice is once and again == 0


@pytest.mark.parametrize("mode", ["mask", "remove", "hash"])
@pytest.mark.parametrize("secret", SECRETS, ids=lambda s: s.kind)
def test_replacement_never_contains_the_secret(mode: str, secret: Secret) -> None:
    out = Redactor(mode=mode).redact_value("password", secret.needle)
    assert secret.needle not in out


def test_any_str_is_a_usable_hash_key():
    redactor = Redactor(mode="hash", hash_key="\x00\ud800")
    first = redactor.redact_text("password=hunter2-secret")
    assert "hunter2" not in first and first == Redactor(mode="hash", hash_key="\x00\ud800").redact_text(
        "password=hunter2-secret"
    )

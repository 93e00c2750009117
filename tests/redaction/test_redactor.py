"""Redactor API: configuration, the callback contract, statistics, log records."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from botanu._config import Settings, resolve_settings
from botanu._safety import BotanuUsageError, set_strict
from botanu.redaction import Redactor, redaction_stats

TOKEN = "ghp_R4nd0mT0k3nV4lu3F0rT3st1ngPurp0s3sX"


def test_defaults() -> None:
    redactor = Redactor()
    assert (
        redactor.mode == "mask" and not redactor.pii and redactor.callback is None and not redactor.patterns
    )


def test_from_settings_honours_every_redaction_field() -> None:
    def callback(key: str, original: Any, redacted: Any) -> Any:
        return redacted

    settings = Settings(
        redaction_mode="hash",
        redact_keys=("order_pin",),
        redact_patterns=(r"EMP-\d{6}",),
        redact_allow_keys=("session.id",),
        redact_pii=True,
        redaction_hash_key="k3y",
        redaction_callback=callback,
    )
    redactor = Redactor.from_settings(settings)
    assert redactor.mode == "hash" and redactor.pii and redactor.callback is callback
    assert redactor.redact_value("order_pin", "1234").startswith("[HMAC:")
    assert redactor.redact_value("session.id", "abc") == "abc"
    assert redactor.redact_text("EMP-123456").startswith("[HMAC:")
    assert redactor.redact_text("jane@example.com").startswith("[HMAC:")
    assert redactor.redact_text("x") == "x"
    assert Redactor(mode="hash", hash_key="k3y").redact_value("password", "p") == redactor.redact_value(
        "password", "p"
    )


def test_from_resolved_environment_settings() -> None:
    settings = resolve_settings(
        environ={
            "BOTANU_REDACTION_MODE": "remove",
            "BOTANU_REDACT_KEYS": "order_pin, badge",
            "BOTANU_REDACT_PII": "1",
        }
    )
    redactor = Redactor.from_settings(settings)
    assert redactor.redact_value("badge", "77") == "[REDACTED]"
    assert redactor.redact_text("mail bob@example.com") == "mail [REDACTED]"


def test_bad_configuration_warns_and_falls_back(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="botanu"):
        redactor = Redactor(mode="scramble", hash_key=42, callback="nope", extra_keys=[3, "pin"])  # type: ignore[arg-type]
    assert redactor.mode == "mask" and redactor.callback is None
    assert redactor.redact_value("pin", "1") == "[REDACTED]"
    messages = " ".join(r.getMessage() for r in caplog.records)
    assert "unknown redaction mode" in messages and "callback must be callable" in messages
    set_strict(True)
    with pytest.raises(BotanuUsageError):
        Redactor(mode="scramble")


# ---------------------------------------------------------------------- callback


def test_callback_gets_key_original_and_redacted_for_every_attribute() -> None:
    calls: list[tuple[str, Any, Any]] = []

    def callback(key: str, original: Any, redacted: Any) -> Any:
        calls.append((key, original, redacted))
        return redacted

    redactor = Redactor(mode="remove", callback=callback)
    out, count, rules = redactor.redact_attributes({"password": "p", "plain": "hello world", "n": 3})
    assert out == {"password": "[REDACTED]", "plain": "hello world", "n": 3}
    assert calls[0] == ("password", "p", "[REDACTED]")
    assert calls[1][0] == "plain" and calls[1][1] is calls[1][2]  # unchanged: the same object
    assert (count, rules) == (1, ("key:password",))


def test_callback_has_the_final_say() -> None:
    def callback(key: str, original: Any, redacted: Any) -> Any:
        if key == "customer.note":
            return original  # the user vouches for this one
        if key == "internal.ref":
            return "[INTERNAL]"
        return redacted

    redactor = Redactor(callback=callback)
    out, count, rules = redactor.redact_attributes(
        {"customer.note": f"uses {TOKEN}", "internal.ref": "R-1", "password": "p"}
    )
    assert out["customer.note"] == f"uses {TOKEN}"
    assert out["internal.ref"] == "[INTERNAL]"
    assert out["password"] == "[REDACTED]"
    assert count == 2 and rules == ("callback", "key:password")


def test_callback_that_raises_or_returns_garbage_keeps_the_redacted_value(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def raising(key: str, original: Any, redacted: Any) -> Any:
        raise RuntimeError("bug in user code")

    with caplog.at_level(logging.WARNING, logger="botanu"):
        redactor = Redactor(mode="remove", callback=raising)
        for _ in range(3):
            assert redactor.redact_value("password", "p") == "[REDACTED]"
        assert redactor.redact_value("plain", "ok") == "ok"
    assert sum("callback raised" in r.getMessage() for r in caplog.records) == 1

    redactor = Redactor(mode="remove", callback=lambda k, o, r: object())
    with caplog.at_level(logging.WARNING, logger="botanu"):
        assert redactor.redact_value("password", "p") == "[REDACTED]"
    assert any("not a valid attribute value" in r.getMessage() for r in caplog.records)


# ---------------------------------------------------------------------- API shapes


def test_redact_attributes_returns_the_same_object_when_nothing_changes() -> None:
    attributes = {"http.request.method": "GET", "n": 1, "flag": True}
    out, count, rules = Redactor().redact_attributes(attributes)
    assert out is attributes and count == 0 and rules == ()
    assert Redactor().redact_attributes(None) == (None, 0, ())


def test_non_string_inputs_to_text_functions_pass_through() -> None:
    redactor = Redactor()
    assert redactor.redact_attributes({1: "x", None: f"t {TOKEN}"})[0] == {1: "x", None: "t ghp_…[35 chars]"}
    assert redactor.redact_text(12) == 12  # type: ignore[arg-type]
    assert redactor.redact_url(None) is None  # type: ignore[arg-type]


def test_redact_log_body_and_attributes() -> None:
    redactor = Redactor(mode="remove")
    body, attributes = redactor.redact_log(f"login ok token={TOKEN}", {"user": "bob", "password": "p"})
    assert body == "login ok token=[REDACTED]"
    assert attributes == {
        "user": "bob",
        "password": "[REDACTED]",
        "botanu.redaction.count": 2,
        "botanu.redaction.rules": ("github_token", "key:password", "key:token"),
    }
    structured, _ = redactor.redact_log({"event": "login", "api_key": "k"})
    assert structured == {"event": "login", "api_key": "[REDACTED]"}
    same_body, same_attributes = redactor.redact_log("fine", {"a": 1})
    assert same_body == "fine" and same_attributes == {"a": 1}


def test_stats_count_direct_api_use() -> None:
    redactor = Redactor()
    redactor.redact_text(f"a {TOKEN} b")
    redactor.redact_value("password", "p")
    stats = redaction_stats()
    assert stats["values_redacted"] == 2
    assert stats["by_rule"] == {"github_token": 1, "key:password": 1}
    assert set(stats) == {
        "spans_seen",
        "spans_changed",
        "values_redacted",
        "by_rule",
        "failures",
        "spans_dropped",
    }


def test_caches_are_bounded() -> None:
    redactor = Redactor()
    for i in range(10_000):
        redactor.redact_attributes({f"key.{i}": f"value number {i}"})
    assert len(redactor._key_cache) <= 4096 and len(redactor._text_cache) <= 4096


def test_docstring_examples() -> None:
    import doctest

    import botanu.redaction

    result = doctest.testmod(botanu.redaction, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 4 and result.failed == 0


def test_clean_value_cache_stays_bounded_with_a_new_run_id_per_span():
    import uuid

    from botanu.redaction import Redactor
    from botanu.redaction._redactor import _CACHE_SIZE

    redactor = Redactor()
    for _ in range(_CACHE_SIZE * 2 + 10):
        attributes = {"botanu.workflow": "Support", "botanu.run_id": str(uuid.uuid4())}
        assert redactor.redact_attributes(attributes)[1] == 0
    assert len(redactor._clean_values) <= _CACHE_SIZE

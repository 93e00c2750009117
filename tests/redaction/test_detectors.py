"""Value detectors: secret-shaped text anywhere, URLs, JSON, nested values, PII, user patterns."""

from __future__ import annotations

import json
import logging

import pytest

from botanu._safety import BotanuUsageError, set_strict
from botanu.redaction import Redactor

from .corpus import LOOKALIKES, SECRETS, Secret, leaked, placements

MODES = ("mask", "remove", "hash")


def _cases() -> list[tuple[Secret, str]]:
    return [(secret, where) for secret in SECRETS for where in placements(secret)]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("secret", "where"), _cases(), ids=lambda v: v.kind if isinstance(v, Secret) else v)
def test_every_corpus_secret_is_caught_everywhere(secret: Secret, where: str, mode: str) -> None:
    text = placements(secret)[where]
    out = Redactor(mode=mode).redact_text(text)
    assert not leaked([secret.needle, *secret.also], out), out


@pytest.mark.parametrize("text", LOOKALIKES)
def test_lookalikes_survive_untouched(text: str) -> None:
    redactor = Redactor()
    assert redactor.redact_text(text) == text
    assert redactor.redact_value("app.note", text) == text


@pytest.mark.parametrize(
    ("text", "rule"),
    [(secret.text, secret.kind) for secret in SECRETS],
    ids=[secret.kind for secret in SECRETS],
)
def test_each_secret_reports_a_rule_name_not_its_text(text: str, rule: str) -> None:
    _, count, rules = Redactor().redact_attributes({"app.note": text})
    assert count >= 1
    assert rules
    for name in rules:
        assert text not in name and len(name) < 40


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjMifQ.c2lnbmF0dXJlMTIz", "jwt"),
        ("Bearer abcdef0123456789", "bearer_token"),
        ("Basic dXNlcjpwYXNzd29yZA==", "basic_auth"),
        ("AKIAZ7Q3XK5MPLR4TN2W", "aws_access_key_id"),
        ("ghp_R4nd0mT0k3nV4lu3F0rT3st1ngPurp0s3sX", "github_token"),
        ("xoxb-2048137265-4096273519-Qw3rTy8uIo2pAs5dFg7hJk1L", "slack_token"),
        ("sk_live_51HqX8aK2Lm9Np3Qr7St1Uv5WxYz", "stripe_key"),
        ("sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAB7CD0EF3GH6", "openai_api_key"),
        ("sk-ant-api03-Xy9Zw8Vu7Ts6Rq5Po4Nm3Lk2Ji1Hg0Fe9Dc8Ba7", "anthropic_api_key"),
        ("AIzaSyD-8qX3mK9pL2nR5tW7yB4cF6hJ1kS0aE3", "google_api_key"),
        ("4111 1111 1111 1111", "credit_card"),
        ("password=hunter2", "key:password"),
        ("https://u:pw@example.com/", "url_userinfo"),
        ("https://example.com/?sig=abcdef123", "url_query"),
        ("https://x.io/hook/Gq7Vb2Xk9LmN4pR8sT1wY6zA", "url_path_token"),
        ("-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----", "private_key"),
    ],
)
def test_rule_for_each_detector(text: str, rule: str) -> None:
    _, _, rules = Redactor().redact_attributes({"app.note": f"x {text} y"})
    assert rule in rules


# ---------------------------------------------------------------------- free text details


def test_assignment_forms() -> None:
    redactor = Redactor(mode="remove")
    assert redactor.redact_text("password=hunter2&user=bob") == "password=[REDACTED]&user=bob"
    assert redactor.redact_text('{"token": "abc123", "n": 1}') == '{"token": "[REDACTED]", "n": 1}'
    # An unquoted value runs to the line end unless the syntax ends it (a next key, a closer).
    assert redactor.redact_text("api_key: abc123 next") == "api_key: [REDACTED]"
    assert redactor.redact_text("api_key: abc123 next=1") == "api_key: [REDACTED] next=1"
    assert redactor.redact_text("Authorization: Bearer abc.def") == "Authorization: [REDACTED]"
    assert redactor.redact_text("secret => 'v4lue'") == "secret => '[REDACTED]'"
    assert redactor.redact_text("if password == 'hunter2':") == "if password == '[REDACTED]':"
    assert (
        redactor.redact_text('connect(password="hunter2)') == 'connect(password="[REDACTED]'
    )  # unterminated
    assert (
        redactor.redact_text("password=null token=${TOKEN} pwd=***") == "password=null token=${TOKEN} pwd=***"
    )
    assert redactor.redact_text("time 12:30:45 on host a:b") == "time 12:30:45 on host a:b"


def test_generic_key_assignment_needs_a_random_value() -> None:
    redactor = Redactor(mode="remove")
    assert redactor.redact_text("cache key=user_123_profile") == "cache key=user_123_profile"
    assert redactor.redact_text("key=9f86d081884c7d659a2feaa0c55ad015") == "key=[REDACTED]"


def test_bearer_and_basic_are_validated() -> None:
    redactor = Redactor()
    for prose in ("the bearer of bad news", "Basic plan includes 3 seats", "a token of appreciation"):
        assert redactor.redact_text(prose) == prose
    assert redactor.redact_text("Basic dXNlcjpwYXNz") == "Basic …[12 chars]"


def test_pem_block_without_end_is_redacted_to_the_end() -> None:
    text = "key: -----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIBk1c2VjcmV0LWtleS1ib2R5LWJ5dGVz"
    out = Redactor().redact_text(text)
    assert "MHcCAQEE" not in out


def test_card_numbers_need_luhn_and_an_issuer() -> None:
    redactor = Redactor(mode="remove")
    assert redactor.redact_text("card 4111-1111-1111-1111 ok") == "card [REDACTED] ok"
    assert (
        redactor.redact_text("card 4111 1111 1111 1111 123") == "card [REDACTED] 123"
    )  # trailing CVV kept apart
    assert redactor.redact_text("id 1111111111111117") == "id 1111111111111117"  # Luhn-valid, no issuer
    assert redactor.redact_text("ts 1700000000123456789") == "ts 1700000000123456789"
    assert redactor.redact_value("app.card", 4111111111111111) == "[REDACTED]"
    assert redactor.redact_value("app.count", 4111111111111112) == 4111111111111112


def test_escaped_unicode_inside_json_is_decoded_first() -> None:
    text = json.dumps({"note": "AKIAZ7Q3XK5MPLR4TN2W"}).replace("AKIA", "\\u0041KIA")
    out = Redactor().redact_text(text)
    assert "Z7Q3XK5MPLR4TN2W" not in out
    assert json.loads(out)["note"] == "AKIA…[16 chars]"


# ---------------------------------------------------------------------- URLs


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgres://admin:hunter2@db:5432/app", "postgres://[REDACTED]@db:5432/app"),
        (
            "https://api.example.com/v1/x?api_key=abc123&page=2&token=zzz",
            "https://api.example.com/v1/x?api_key=[REDACTED]&page=2&token=[REDACTED]",
        ),
        (
            "https://maps.example.com/api?key=XYZ123&center=1,2",
            "https://maps.example.com/api?key=[REDACTED]&center=1,2",
        ),
        (
            "https://app.example.com/cb?code=4/0AX4Xf&state=abc",
            "https://app.example.com/cb?code=[REDACTED]&state=abc",
        ),
        (
            "https://app.example.com/cb#access_token=abc123&x=1",
            "https://app.example.com/cb#access_token=[REDACTED]&x=1",
        ),
        (
            "https://h.example.com/login;jsessionid=0123456789ABCDEF",
            "https://h.example.com/login;jsessionid=[REDACTED]",
        ),
        (
            "https://hooks.example.com/services/T024BE7LD/B0123ABCD/Gq7Vb2Xk9LmN4pR8sT1wY6zA",
            "https://hooks.example.com/services/T024BE7LD/B0123ABCD/[REDACTED]",
        ),
        ("/reset/ghp_R4nd0mT0k3nV4lu3F0rT3st1ngPurp0s3sX?next=/", "/reset/[REDACTED]?next=/"),
    ],
)
def test_redact_url(url: str, expected: str) -> None:
    assert Redactor(mode="remove").redact_url(url) == expected


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/users/550e8400-e29b-41d4-a716-446655440000",
        "https://example.com/orders/1234567890",
        "https://example.com/blog/how-to-rotate-your-api-keys-safely-in-production",
        "https://github.com/o/r/commit/3f786850e387550fdab836ed7e6dc881de23001b",
        "https://example.com/files/507f1f77bcf86cd799439011/download",
        "https://example.com/search?q=token+count&page=2",
        "/v1/orders/{order_id}/items?limit=50",
    ],
)
def test_ordinary_urls_are_kept(url: str) -> None:
    assert Redactor().redact_url(url) == url


def test_url_attributes_use_url_rules() -> None:
    redactor = Redactor(mode="remove")
    attributes = {
        "url.full": "https://u:p@h.example.com/a?sig=abc123",
        "http.target": "/a/b?access_token=abc123",
        "url.query": "page=2&client_secret=abc123",
        "url.path": "/files/Gq7Vb2Xk9LmN4pR8sT1wY6zA",
    }
    out, count, rules = redactor.redact_attributes(attributes)
    assert out == {
        "url.full": "https://[REDACTED]@h.example.com/a?sig=[REDACTED]",
        "http.target": "/a/b?access_token=[REDACTED]",
        "url.query": "page=2&client_secret=[REDACTED]",
        "url.path": "/files/[REDACTED]",
    }
    assert count == 5
    assert "url_userinfo" in rules and "url_path_token" in rules


def test_urls_inside_free_text() -> None:
    text = "GET https://svc:pa55@api.example.com/v1?api_key=abc123 failed (see https://docs.example.com/x)."
    assert Redactor(mode="remove").redact_text(text) == (
        "GET https://[REDACTED]@api.example.com/v1?api_key=[REDACTED] failed (see https://docs.example.com/x)."
    )


# ---------------------------------------------------------------------- structured values


def test_sequences_mappings_and_bytes() -> None:
    redactor = Redactor(mode="remove")
    token = "ghp_R4nd0mT0k3nV4lu3F0rT3st1ngPurp0s3sX"
    assert redactor.redact_value("app.list", ["ok", f"t {token}", ("nested", token)]) == (
        "ok",
        "t [REDACTED]",
        ("nested", "[REDACTED]"),
    )
    assert redactor.redact_value("app.map", {"user": "bob", "password": "x", "inner": {"token": 5}}) == {
        "user": "bob",
        "password": "[REDACTED]",
        "inner": {"token": "[REDACTED]"},
    }
    assert redactor.redact_value("app.raw", f"t {token}".encode()) == b"t [REDACTED]"
    binary = b"\x89PNG\r\n\x1a\n\x00\xff" + token.encode() + b"\x00\xfe"
    assert token.encode() not in redactor.redact_value("app.raw", binary)
    assert redactor.redact_value("password", ("a", "b")) == ("[REDACTED]", "[REDACTED]")
    assert redactor.redact_value("password", {"k": ["v", 3]}) == {"k": ("[REDACTED]", "[REDACTED]")}


def test_values_that_cannot_hold_secrets_are_untouched() -> None:
    redactor = Redactor()
    for value in (True, False, None, 1.5, float("inf"), 42, -7, "", b""):
        assert redactor.redact_value("app.value", value) is value
    for value in (True, False, None, ""):  # nothing to hide even under a secret name
        assert redactor.redact_value("password", value) is value
    # Numbers under a secret name (PINs, CVVs) are replaced like strings.
    assert redactor.redact_value("password", 1234) == "[REDACTED]"
    assert redactor.redact_value("cvv", 123.0) == "[REDACTED]"


def test_json_input_is_redacted_structurally() -> None:
    captured = json.dumps(
        {
            "args": ["alice", {"password": "hunter2", "remember": True, "pin": 1234}],
            "kwargs": {
                "headers": {"Authorization": "Bearer abc", "Accept": "json"},
                "credentials": {"u": "a", "p": 1},
            },
        }
    )
    out = Redactor(mode="remove").redact_value("botanu.input", captured)
    assert json.loads(out) == {
        # A PIN is a secret by name, as a number too.
        "args": ["alice", {"password": "[REDACTED]", "remember": True, "pin": "[REDACTED]"}],
        "kwargs": {
            "headers": {"Authorization": "[REDACTED]", "Accept": "json"},
            "credentials": {"u": "[REDACTED]", "p": "[REDACTED]"},
        },
    }


def test_deep_nesting_is_bounded() -> None:
    value: object = "x"
    for _ in range(100):
        value = [value]
    out = Redactor().redact_value("app.deep", value)
    assert "nesting too deep" in repr(out)
    deep_json = "[" * 5000 + "]" * 5000
    assert Redactor().redact_text(deep_json) == deep_json


def test_secret_used_as_a_key_is_renamed() -> None:
    token = "ghp_R4nd0mT0k3nV4lu3F0rT3st1ngPurp0s3sX"
    out, count, _ = Redactor(mode="remove").redact_attributes({f"cache.{token}": 1, "ok": 2})
    assert out == {"cache.[REDACTED]": 1, "ok": 2}
    assert count == 1


# ---------------------------------------------------------------------- PII and user patterns


def test_pii_is_off_by_default_and_on_when_asked() -> None:
    text = (
        "mail jane.doe@example.com, call +1 415 555 2671 or (415) 555-2671, "
        "from 203.0.113.7 / 2001:db8::8a2e:370:7334"
    )
    assert Redactor().redact_text(text) == text
    out = Redactor(mode="remove", pii=True).redact_text(text)
    assert out == "mail [REDACTED], call [REDACTED] or [REDACTED], from [REDACTED] / [REDACTED]"


def test_pii_lookalikes() -> None:
    redactor = Redactor(pii=True)
    for text in ("12:30:45", "version 1.2.3", "00:1a:2b:3c:4d:5e", "std::vector", "order 12345"):
        assert redactor.redact_text(text) == text


def test_custom_patterns() -> None:
    redactor = Redactor(mode="remove", extra_patterns=[r"EMP-\d{6}", r"pin=(?P<secret>\d{4})"])
    assert redactor.redact_text("employee EMP-123456 pin=1234") == "employee [REDACTED] pin=[REDACTED]"
    _, _, rules = redactor.redact_attributes({"a": "EMP-123456"})
    assert rules == ("custom_pattern_1",)


def test_invalid_pattern_warns_once_and_is_skipped(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="botanu"):
        redactor = Redactor(extra_patterns=["(unclosed", r"ok-\d+"])
    assert len(redactor.patterns) == 1
    assert sum("pattern #1" in r.getMessage() for r in caplog.records) == 1
    set_strict(True)
    with pytest.raises(BotanuUsageError):
        Redactor(extra_patterns=["(unclosed"])


def test_unseparated_card_followed_by_another_number():
    # Found by hypothesis: the card was missed when a separate number followed it.
    from botanu.redaction import Redactor

    assert "378282246310005" not in Redactor().redact_text(" 378282246310005 0")
    assert "4111111111111111" not in Redactor().redact_text("card 4111111111111111 12 34")


@pytest.mark.parametrize(
    ("text", "redacted"),
    [
        ("Authorization: Bearer abc.def.ghi", True),
        ("BEARER shorty1", True),
        ("the bearer instrument matured", False),
        ("Bearer x", False),
    ],
)
def test_a_capitalised_bearer_credential_is_redacted_whatever_it_looks_like(text, redacted):
    assert (Redactor().redact_text(text) != text) is redacted

"""Key-name rules: which attribute names make their value secret (botanu.redaction._keys)."""

from __future__ import annotations

import pytest

from botanu.redaction import Redactor
from botanu.redaction._keys import GENERIC, KeyRules, builtin_rule, split_words

from .corpus import NON_SENSITIVE_KEYS, SENSITIVE_KEYS


@pytest.mark.parametrize(
    ("key", "words"),
    [
        ("http.request.header.authorization", ["http", "request", "header", "authorization"]),
        ("userPassword", ["user", "password"]),
        ("APIKey", ["api", "key"]),
        ("x-api-key", ["x", "api", "key"]),
        ("X-API-KEY", ["x", "api", "key"]),
        ("apiKey2", ["api", "key", "2"]),
        ("oauth2_token", ["oauth", "2", "token"]),
        ("SecretAccessKey", ["secret", "access", "key"]),
    ],
)
def test_split_words(key: str, words: list[str]) -> None:
    assert split_words(key) == words


@pytest.mark.parametrize("key", SENSITIVE_KEYS)
def test_sensitive_names_are_secret(key: str) -> None:
    assert KeyRules().classify(key) not in (None, GENERIC), key


@pytest.mark.parametrize("key", NON_SENSITIVE_KEYS)
def test_look_alike_names_are_not_secret(key: str) -> None:
    assert KeyRules().classify(key) in (None, GENERIC), key
    assert Redactor().redact_value(key, "plain value 42") == "plain value 42"


@pytest.mark.parametrize(
    ("key", "rule"),
    [
        ("session_id", "key:session"),  # trailing qualifier "id"
        ("password_hash", "key:password"),
        ("authorization_header", "key:authorization"),
        ("api_key_2", "key:api_key"),
        ("new_password_confirmation", "key:password"),
        ("private_key_id", "key:private_key"),
        ("aws_secret_access_key", "key:secret"),
        ("creditCardNumber", "key:card"),
        ("social_security_number", "key:ssn"),
        ("csrftoken", "key:token"),
        ("dbpassword", "key:password"),
        # Vocabulary from the outside review: one-time codes, PINs, bank and card numbers,
        # key material named by its encoding, bearer / SAS credentials.
        ("passcode", "key:password"),
        ("user.pin", "key:password"),
        ("pin_code", "key:password"),
        ("otp", "key:token"),
        ("totp", "key:token"),
        ("mfa_code", "key:token"),
        ("2fa_code", "key:token"),
        ("verification_code", "key:token"),
        ("cc_number", "key:card"),
        ("iban", "key:card"),
        ("payee.iban", "key:card"),
        ("private_key_pem", "key:private_key"),
        ("signing_key_pkcs8", "key:secret"),
        ("bearer", "key:token"),
        ("sas", "key:token"),
        # A compound ending in a qualifier word is read whole, before qualifiers are dropped.
        ("db.connection_string", "key:credential"),
        ("connectionString", "key:credential"),
    ],
)
def test_rule_names(key: str, rule: str) -> None:
    assert builtin_rule(split_words(key)) == rule


def test_head_noun_decides_not_any_word() -> None:
    # A sensitive word followed by another noun describes something else.
    for key in ("token_count", "token_type", "password_reset_page_views", "session_count", "secret_name"):
        assert builtin_rule(split_words(key)) is None, key
    # ... while a word before the head only narrows it.
    for key in ("refresh_token", "db_password", "stripe_client_secret", "user.session"):
        assert builtin_rule(split_words(key)) is not None, key


def test_generic_names_need_a_random_value() -> None:
    rules = KeyRules()
    assert rules.classify("signature") is GENERIC
    assert rules.classify("cache.key") is GENERIC
    redactor = Redactor()
    assert redactor.redact_value("cache.key", "user:42:profile") == "user:42:profile"
    assert redactor.redact_value("signature", "f3a9c1e7b5d2048a6c9e1f3b7d5a2c8e") == "[REDACTED]"


def test_extra_keys_exact_suffix_and_glob() -> None:
    rules = KeyRules(extra_keys=["ssn_last4", "internal.*.ref", "Customer-PIN"])
    assert rules.classify("ssn_last4") == "key:custom"
    assert rules.classify("user.ssn_last4") == "key:custom"  # trailing words match
    assert rules.classify("internal.billing.ref") == "key:custom"  # glob
    assert rules.classify("customer-pin") == "key:custom"  # case-insensitive
    assert rules.classify("customer_pin_hint") is None


def test_allow_keys_override_builtin_names_but_extra_keys_win() -> None:
    rules = KeyRules(extra_keys=["session.id"], allow_keys=["session.id", "session_token"])
    assert rules.classify("session_token") is None
    assert rules.classify("session.id") == "key:custom"


def test_allowed_key_values_are_still_scanned() -> None:
    redactor = Redactor(allow_keys=["http.request.header.authorization"])
    token = "ghp_R4nd0mT0k3nV4lu3F0rT3st1ngPurp0s3sX"
    assert redactor.redact_value("http.request.header.authorization", "short") == "short"
    assert token not in redactor.redact_value("http.request.header.authorization", f"token {token}")


def test_pii_names_only_with_pii() -> None:
    assert KeyRules().classify("user.email") is None
    assert KeyRules(pii=True).classify("user.email") == "pii_email"
    assert KeyRules(pii=True).classify("email_verified") is None


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("api_key", True),
        ("key", True),
        ("sig", True),
        ("X-Amz-Signature", True),
        ("code", True),
        ("page", False),
    ],
)
def test_url_parameter_names(name: str, secret: bool) -> None:
    assert (KeyRules().is_url_secret_param(name) is not None) is secret


@pytest.mark.parametrize("key", ["pin_count", "pins_total", "otp_sent_at", "iban_country", "bearer_scheme"])
def test_new_words_narrowed_by_a_trailing_word_are_not_secret(key: str) -> None:
    assert builtin_rule(split_words(key)) is None, key


@pytest.mark.parametrize("name", ["otp", "passcode", "pin", "bearer", "sas", "mfa_code", "iban"])
def test_new_words_are_secret_url_parameters(name: str) -> None:
    redacted = Redactor().redact_value("url.full", f"https://api.example.com/verify?{name}=93817266&page=2")
    assert "93817266" not in redacted
    assert "page=2" in redacted

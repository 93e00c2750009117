"""Which attribute *names* mark their value as secret.

The rules, in the order they are applied to a key such as ``http.request.header.x-api-key``:

1. **Split into words** on anything that is not a letter or digit (``.``, ``_``, ``-``, ``/``,
   spaces) and on camelCase boundaries, then lower-case: ``userPassword`` -> ``user password``,
   ``APIKey`` -> ``api key``, ``x-api-key`` -> ``x api key``. Digits form their own words.
2. **Strip trailing qualifiers**: words that describe a representation of the thing rather
   than another thing (``id``, ``value``, ``hash``, ``raw``, ``header``, ``b64``, digits, ...),
   so ``session_id``, ``password_hash``, ``authorization_header`` and ``api_key_2`` keep
   their meaning.
3. **Look at the head noun only** (the last remaining word, with the one or two words before
   it for compounds). A key is sensitive when its head is a sensitive word (``password``,
   ``passwd``, ``pwd``, ``passphrase``, ``pass``, ``secret(s)``, ``token``, ``apikey``,
   ``authorization``, ``cookie(s)``, ``session``, ``credential(s)``, ``privatekey``, ``ssn``,
   ``cvv``, ``cvc``, ``jwt``, ``bearer``, ``sas``, ``passcode``, ``pin``, ``otp``, ``totp``,
   ``iban``), a sensitive compound (``api key``, ``private key``, ``secret key``, ``access key``,
   ``client key``, ``card number``, ``cc number``, ``credit card``, ``security code``,
   ``mfa code``, ``verification code``, ``social security number``, ...), or a glued word ending
   in a sensitive word (``csrftoken``, ``dbpassword``, ``sessionid``). A compound whose last word
   is also a qualifier (``connection string``) is matched before qualifiers are stripped.

Why the head noun: a word *before* the head only narrows it (``refresh_token`` is a token),
while a word *after* it changes what the key is about (``token_count``, ``token_type``,
``password_reset_page_views``, ``session_count``, ``secret_name`` are not secrets).
Plurals follow the same logic: ``secrets`` and ``cookies`` hold secrets, ``tokens`` (as in
``gen_ai.usage.input_tokens``) counts them. Whole words only, so ``author`` and
``auth_method`` never match ``authorization``.

Known consequences, all on the safe side: ``session.id`` (an OpenTelemetry attribute) is
redacted because session ids are bearer credentials in most web apps; allow it with
``redact_allow_keys`` if yours are not. ``key`` alone (``cache.key``, ``messaging.kafka.message.key``)
is *not* sensitive, but in free text ``key=<random-looking value>`` still is (see the detectors),
and in URL query strings ``key``, ``sig``, ``signature``, ``code`` and ``auth`` are.

User configuration: ``extra_keys`` (always sensitive) beats ``allow_keys`` (never sensitive by
name, values are still scanned), which beats the built-in rules. An entry matches a key that
equals it (case-insensitive), a key whose words end with the entry's words (``ssn_last4`` matches
``user.ssn_last4``), or, when it contains ``*``, ``?`` or ``[``, a key it glob-matches.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable

# Splits "http.request.header.X-API-Key" / "userPassword" / "APIKey2" into words.
_WORD_RE = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")

# Words that describe a form of the head noun, not a different thing.
_QUALIFIERS = frozenset(
    {
        "id", "ids", "value", "val", "values", "hash", "hashed", "digest", "raw", "plain", "plaintext",
        "str", "string", "text", "b64", "base64", "hex", "enc", "encoded", "encrypted", "data",
        "header", "headers", "param", "params", "field", "input", "confirm", "confirmation", "again",
        "repeat", "old", "new", "current", "cur", "prev", "previous", "tmp", "temp", "original",
        "pem", "pkcs", "der",
    }
)  # fmt: skip

# Head nouns that are secrets on their own; the value is the rule suffix in audit output.
_SENSITIVE_WORDS: dict[str, str] = {
    "password": "password", "passwords": "password", "passwd": "password", "pwd": "password",
    "passphrase": "password", "pass": "password", "pw": "password",
    "secret": "secret", "secrets": "secret",
    "token": "token", "jwt": "token", "bearer": "token", "sas": "token",
    "passcode": "password", "passcodes": "password", "pin": "password", "pins": "password",
    "pincode": "password", "otp": "token", "totp": "token", "hotp": "token",
    "apikey": "api_key", "apikeys": "api_key",
    "authorization": "authorization", "authorisation": "authorization",
    "cookie": "cookie", "cookies": "cookie",
    "session": "session", "sessionid": "session", "sessionkey": "session",
    "credential": "credential", "credentials": "credential", "creds": "credential",
    "privatekey": "private_key",
    "ssn": "ssn", "iban": "card",
    "cvv": "card", "cvc": "card", "cvv2": "card", "cvc2": "card",
}  # fmt: skip

# (word before head, head) compounds.
_SENSITIVE_PAIRS: dict[tuple[str, str], str] = {
    **{
        (first, key): "api_key" if first == "api" else "private_key" if first == "private" else "secret"
        for first in (
            "api", "private", "secret", "access", "client", "signing", "encryption", "master", "account",
            "auth", "license", "licence", "subscription", "shared", "app", "consumer", "session", "ssh",
            "gpg", "pgp", "decryption", "hmac", "webhook", "service",
        )
        for key in ("key", "keys")
    },
    ("card", "number"): "card", ("card", "num"): "card", ("card", "no"): "card", ("credit", "card"): "card",
    ("debit", "card"): "card", ("security", "code"): "card", ("card", "pin"): "card",
    ("cc", "number"): "card", ("cc", "num"): "card", ("cc", "no"): "card",
    ("auth", "code"): "token", ("authorization", "code"): "token", ("otp", "code"): "token",
    ("mfa", "code"): "token", ("fa", "code"): "token",  # 2fa_code splits into 2 / fa / code
    ("verification", "code"): "token",
    ("recovery", "code"): "token", ("backup", "code"): "token", ("pin", "code"): "password",
    ("security", "number"): "ssn",  # social_security_number
    ("connection", "string"): "credential",  # e.g. Azure / ADO.NET connection strings carry AccountKey=
}  # fmt: skip

# Glued words ending in one of these are treated like the suffix (csrftoken, dbpassword).
_GLUED: dict[str, str] = {
    "password": "password", "passwd": "password", "passphrase": "password", "secret": "secret",
    "token": "token", "apikey": "api_key", "sessionid": "session", "privatekey": "private_key",
    "secretkey": "secret", "accesskey": "secret", "credentials": "credential", "credential": "credential",
}  # fmt: skip
_GLUED_SUFFIXES = tuple(_GLUED)

# Head words that mark a *generic* key: its value is redacted only when it looks random.
GENERIC_KEY_WORDS = frozenset({"key", "keys", "sig", "signature", "hmac", "auth"})

# Extra query-parameter names that carry secrets in URLs (beyond the key rules above): API keys
# (``?key=AIza...``), request signatures (AWS / GCS / Azure SAS ``sig``), OAuth codes.
URL_SECRET_PARAMS = frozenset(
    {
        "key", "sig", "signature", "code", "auth", "x-amz-signature", "x-amz-credential",
        "x-amz-security-token", "x-goog-signature", "x-goog-credential", "apikey",
    }
)  # fmt: skip

# Optional PII names (only with pii=True).
_PII_WORDS: dict[str, str] = {
    "email": "pii_email", "mail": "pii_email", "phone": "pii_phone", "mobile": "pii_phone",
    "telephone": "pii_phone", "msisdn": "pii_phone",
}  # fmt: skip


def split_words(key: str) -> list[str]:
    """Lower-cased words of an attribute key (see the module docstring)."""
    return [word.lower() for word in _WORD_RE.findall(key)]


def _head(words: list[str]) -> list[str]:
    """Drop trailing qualifier words (never the last remaining word)."""
    end = len(words)
    while end > 1 and (words[end - 1] in _QUALIFIERS or words[end - 1].isdigit()):
        end -= 1
    return words[:end]


def builtin_rule(words: list[str], pii: bool = False) -> str | None:
    """The built-in rule name for a key already split into words, or None."""
    trimmed = _head(words)
    if len(trimmed) < len(words):
        # A compound whose last word is also a qualifier (connection_string) is read whole.
        rule = _SENSITIVE_PAIRS.get((words[-2], words[-1]))
        if rule is not None:
            return "key:" + rule
    words = trimmed
    if not words:
        return None
    head = words[-1]
    rule = _SENSITIVE_WORDS.get(head)
    if rule is not None:
        return "key:" + rule
    if len(words) >= 2:
        rule = _SENSITIVE_PAIRS.get((words[-2], head))
        if rule is not None:
            return "key:" + rule
    if len(head) > 6 and head.endswith(_GLUED_SUFFIXES):
        return "key:" + next(rule for suffix, rule in _GLUED.items() if head.endswith(suffix))
    if pii:
        rule = _PII_WORDS.get(head)
        if rule is not None:
            return rule
    return None


def head_word(key: str) -> str:
    """The head noun of ``key`` (after qualifiers are stripped), lower-case; '' if none."""
    words = _head(split_words(key))
    return words[-1] if words else ""


class _KeyPattern:
    """One user-supplied key entry: exact name, trailing words, or a glob."""

    __slots__ = ("exact", "glob", "words")

    def __init__(self, entry: str) -> None:
        self.exact = entry.strip().lower()
        self.glob = any(ch in self.exact for ch in "*?[")
        self.words = tuple(split_words(entry))

    def matches(self, lowered: str, words: list[str]) -> bool:
        if self.glob:
            return fnmatch.fnmatchcase(lowered, self.exact)
        if lowered == self.exact:
            return True
        n = len(self.words)
        if not n:
            return False
        if tuple(words[-n:]) == self.words:
            return True
        trimmed = _head(words)
        return tuple(trimmed[-n:]) == self.words


class KeyRules:
    """Decides, per attribute key, whether its value is secret by name.

    ``classify`` returns a rule name (``"key:password"``, ``"key:custom"``, ``"pii_email"``) for
    sensitive keys, :data:`GENERIC` for keys such as ``key`` / ``signature`` whose value is secret
    only when it looks random, or None.
    """

    def __init__(self, extra_keys: Iterable[str] = (), allow_keys: Iterable[str] = (), pii: bool = False):
        self.pii = pii
        self._extra = [_KeyPattern(k) for k in extra_keys if k and k.strip()]
        self._allow = [_KeyPattern(k) for k in allow_keys if k and k.strip()]

    def classify(self, key: str) -> str | None:
        words = split_words(key)
        if self._extra or self._allow:
            lowered = key.lower()
            if any(p.matches(lowered, words) for p in self._extra):
                return "key:custom"
            if any(p.matches(lowered, words) for p in self._allow):
                return None
        rule = builtin_rule(words, self.pii)
        if rule is not None:
            return rule
        trimmed = _head(words)
        if trimmed and trimmed[-1] in GENERIC_KEY_WORDS:
            return GENERIC
        return None

    def is_url_secret_param(self, name: str) -> str | None:
        """Rule for a URL query/fragment parameter name, or None."""
        rule = self.classify(name)
        if rule is not None and rule is not GENERIC:
            return rule
        if name.lower() in URL_SECRET_PARAMS or rule is GENERIC:
            return "url_query"
        return None


# Marker returned by KeyRules.classify for generic names (value must look random).
GENERIC = "generic"

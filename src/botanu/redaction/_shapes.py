"""Cheap shape checks that tell secrets from identifiers that merely look busy.

Everything here works on one short candidate string (a token, a path segment, a digit run)
that a detector already picked out, so plain Python is fast enough.
"""

from __future__ import annotations

import math
import re
from collections import Counter

# Characters that continue a token: a known prefix preceded by one of these is the middle of a
# longer word (``task-...`` is not an OpenAI ``sk-`` key).
TOKEN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")

_UUID_RE = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_WORD_PARTS_RE = re.compile(r"[_\-.:/ ~+]+")
# Our own replacements (so a second pass, e.g. two redacting processors, leaves them alone).
_PLACEHOLDER_RE = re.compile(
    r"(?:[A-Za-z0-9_\-. ]{0,32}…\[\d+ chars?\]|\[REDACTED\]|\[HMAC:[0-9a-f]{12}\]|\[REDACTED: [0-9a-z ]+\])"
)
# Values after ``password=`` that are not a password. Deliberately narrow, because a real
# password may well start with ``$`` or sit in brackets (``$ecretPass99``, ``{abc}``, ``<pw>``):
#
# * empty markers and booleans: null, none, nil, true, false, undefined, n/a, ?, ..., …;
# * masks: ``***``, ``xxx``, ``•••``;
# * printf / logging format fields: ``%s``, ``%d``, ``%r``, ``%(name)s``, and the empty or
#   positional ``str.format`` fields ``{}`` / ``{0}`` (not ``{word}``: that is a password too);
# * references to a secret kept elsewhere, in the syntax of the tools that resolve them:
#   ``$NAME`` with an all-caps environment-variable name (``$ecretPass99`` is not one),
#   ``${NAME}`` / ``${a.b}`` (shell, Terraform, Spring: identifier or dotted path only, so
#   ``${X:-hunter2}`` with a default value is *not* skipped), ``{{ name }}`` / ``${{ a.b }}``
#   templates (Jinja, Helm, GitHub Actions: a dotted identifier and optional ``| filter``s);
# * redaction markers: a marker word alone or in ``<>`` / ``[]`` (``<redacted>``, ``[FILTERED]``,
#   ``<your-api-key>``), never an arbitrary bracketed word.
_MARKER_WORDS = (
    r"(?:(?:your|my)[ _-])?(?:redacted|filtered|hidden|masked|removed|omitted|scrubbed|sanitized|"
    r"sanitised|censored|secret|password|passwd|token|api[ _-]?key|key|credentials?|value|none|null|"
    r"empty|placeholder)"
)
_NOT_A_SECRET_RE = re.compile(
    r"(?i:null|none|nil|true|false|undefined|n/?a|redacted|filtered|hidden|masked)"
    r"|\*+|[xX]{3,}|•+|\?|\.{3}|…"
    r"|%[sdrif]|%\([A-Za-z_]\w*\)[sdrif]|\{[0-9]*\}"
    r"|\$[A-Z_][A-Z0-9_]+|\$\{[A-Za-z_][\w.]*\}"
    r"|\$?\{\{[ \t]*[A-Za-z_][\w.]*(?:[ \t]*\|[ \t]*[A-Za-z_]\w*)*[ \t]*\}\}"
    r"|<(?i:" + _MARKER_WORDS + r")>|\[(?i:" + _MARKER_WORDS + r")\]"
)


def is_uuid(text: str) -> bool:
    """True for the canonical 8-4-4-4-12 hex form."""
    return len(text) == 36 and _UUID_RE.fullmatch(text) is not None


def is_placeholder(text: str) -> bool:
    """True when ``text`` is already one of botanu's redaction markers."""
    return _PLACEHOLDER_RE.fullmatch(text) is not None


def is_not_a_secret(text: str) -> bool:
    """True for values such as ``null``, ``***``, ``%s``, ``$DB_PASSWORD`` or ``${DB_PASSWORD}``.

    Case matters for ``$NAME`` (environment variables are upper case by convention, and that is
    what tells ``$DB_PASSWORD`` from ``$ecretPass99``), so that branch is checked case-sensitively.
    """
    return not text or _NOT_A_SECRET_RE.fullmatch(text) is not None or is_placeholder(text)


# Luhn doubles every second digit from the right and sums the digits of the result: 0 2 4 6 8 1 3 5 7 9.
# As byte tables, so that the sum runs in C (sum() over bytes adds their values): a long run of
# card-like digit groups makes this the hot spot of the card detector.
_LUHN_PLAIN = bytes.maketrans(b"0123456789", bytes(range(10)))
_LUHN_DOUBLED = bytes.maketrans(b"0123456789", bytes((0, 2, 4, 6, 8, 1, 3, 5, 7, 9)))


def luhn_ok(digits: str) -> bool:
    """The Luhn checksum used by payment card numbers (``digits``: ASCII digits only)."""
    backwards = digits[::-1].encode("ascii")
    total = sum(backwards[0::2].translate(_LUHN_PLAIN)) + sum(backwards[1::2].translate(_LUHN_DOUBLED))
    return total % 10 == 0


def card_brand_ok(digits: str) -> bool:
    """True when the issuer prefix and length fit a real card scheme.

    Checking the issuer range on top of Luhn keeps snowflake ids, nanosecond timestamps and
    order numbers (which pass Luhn one time in ten) from being taken for cards.
    """
    n = len(digits)
    first = digits[0]
    two = int(digits[:2])
    four = int(digits[:4])
    if first == "4":  # Visa
        return n in (13, 16, 19)
    if 51 <= two <= 55 or 2221 <= four <= 2720:  # Mastercard
        return n == 16
    if two in (34, 37):  # American Express
        return n == 15
    if two in (36, 38, 39) or 300 <= int(digits[:3]) <= 305:  # Diners Club
        return 14 <= n <= 19
    if four == 6011 or two == 65 or 644 <= int(digits[:3]) <= 649 or two == 62:  # Discover, UnionPay
        return 16 <= n <= 19
    if 3528 <= four <= 3589:  # JCB
        return 16 <= n <= 19
    if two in (50, 56, 57, 58, 63, 67):  # Maestro
        return 12 <= n <= 19
    return False


def is_card_number(digits: str) -> bool:
    """``digits`` (separators removed) is a plausible payment card number."""
    return 13 <= len(digits) <= 19 and digits.isdigit() and card_brand_ok(digits) and luhn_ok(digits)


def card_groups_ok(candidate: str) -> bool:
    """Separators, if any, must be one kind and split the number into card-like groups."""
    seps = {c for c in candidate if c in " -"}
    if not seps:
        return True
    if len(seps) > 1:
        return False
    groups = candidate.split(seps.pop())
    return 3 <= len(groups) <= 5 and all(3 <= len(g) <= 6 for g in groups) and len(groups[0]) == 4


def entropy(text: str) -> float:
    """Shannon entropy in bits per character."""
    n = len(text)
    return -sum(c / n * math.log2(c / n) for c in Counter(text).values())


def char_classes(text: str) -> int:
    """How many of lower-case letters, upper-case letters and digits occur."""
    lower = upper = digit = False
    for char in text:
        if char.islower():
            lower = True
        elif char.isupper():
            upper = True
        elif char.isdigit():
            digit = True
    return lower + upper + digit


def is_wordy(text: str) -> bool:
    """True when every part is a plain word or number (a slug, a dotted name, a path)."""
    for part in _WORD_PARTS_RE.split(text):
        if not part:
            continue
        if part.isdigit():
            continue
        if part.isalpha() and (part.islower() or part.isupper() or part.istitle()):
            continue
        return False
    return True


def looks_random(text: str, min_len: int = 16) -> bool:
    """A long, mixed, high-entropy string such as an API key, not an identifier or a word.

    Hex strings count (a 32-character hex value after ``key=`` is a key); plain words, slugs
    and dotted names do not.
    """
    if len(text) < min_len or is_wordy(text):
        return False
    if char_classes(text) < 2:
        return False
    return entropy(text) >= 3.0


def is_token_path_segment(segment: str) -> bool:
    """A URL path segment that is a credential rather than an id.

    Kept: UUIDs, numbers, slugs, lower-case hex (git SHAs, Mongo ObjectIds, content hashes).
    Redacted: 20+ characters of mixed-case letters and digits with high entropy (webhook
    tokens, signed-URL keys, base64url secrets).
    """
    if len(segment) < 20 or is_uuid(segment) or is_wordy(segment):
        return False
    if char_classes(segment) < 3:
        return False
    return entropy(segment) >= 3.5

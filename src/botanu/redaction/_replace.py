"""What a secret is replaced with (the three modes) and how replacements are spliced into text.

* ``mask`` (default): a short non-secret hint and the number of hidden characters, e.g.
  ``sk-ant-…[93 chars]`` or ``Bearer …[36 chars]``. The hint is only ever a fixed, public
  prefix (a vendor's key prefix, an auth scheme word) and is empty otherwise (``…[7 chars]``);
  no character of the secret's random part is kept. The length is shown only for secrets
  of a recognised format (a vendor key, a JWT, a card number), whose length is public anyway.
  A secret found by its *name* (``password=...``, ``?token=...``, a ``password`` attribute,
  URL userinfo) may be human-chosen, and its length would narrow a guess: it becomes
  ``[REDACTED]`` (after the public hint, if any: ``Bearer [REDACTED]``).
* ``remove``: ``[REDACTED]``.
* ``hash``: ``[HMAC:<12 hex>]``, a keyed HMAC-SHA256 of the secret, so equal secrets can be
  correlated across spans without being recoverable. The key comes from settings
  (``redaction_hash_key``) or is generated once per process with :mod:`secrets`; without the
  key even a short password cannot be brute-forced from the digest.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

REDACTED = "[REDACTED]"
FAILED = "[REDACTED: redaction failed]"
TOO_DEEP = "[REDACTED: nesting too deep]"

# One key per process for hash mode when none is configured.
_PROCESS_HASH_KEY = secrets.token_bytes(32)

# A finding: (start, end, rule, hint) over one string; hint is a public prefix of text[start:end].
Finding = tuple[int, int, str, str]


class Replacer:
    """Turns one secret into its replacement for the configured mode."""

    __slots__ = ("_key", "mode")

    def __init__(self, mode: str = "mask", hash_key: bytes | None = None) -> None:
        self.mode = mode
        self._key = hash_key or _PROCESS_HASH_KEY

    def replace(self, secret: str, hint: str = "", length: bool = True) -> str:
        """The replacement for ``secret``; ``length=False`` keeps its length out of a mask."""
        if self.mode == "remove":
            return REDACTED
        if self.mode == "hash":
            digest = hmac.new(self._key, secret.encode("utf-8", "surrogatepass"), hashlib.sha256)
            return "[HMAC:" + digest.hexdigest()[:12] + "]"
        if hint and not secret.startswith(hint):  # defensive: a hint must be the secret's own prefix
            hint = ""
        if not length:
            return hint + REDACTED
        hidden = len(secret) - len(hint)
        return f"{hint}…[{hidden} {'char' if hidden == 1 else 'chars'}]"


# Rules that find a secret by the name it is stored under, not by its format: see ``mask`` above.
_NAMED_RULES = frozenset({"key_value", "url_query", "url_userinfo", "url_nested"})


# The rule for text left unscanned because its item's scan budget ran out (see _budget).
SCAN_LIMIT = "scan_limit"
# What replaces an unscanned value that is not text (a number or a container under a key that
# could not be classified).
NOT_SCANNED = "[REDACTED: not scanned]"


def unscanned(length: int) -> str:
    """The replacement for ``length`` characters dropped unread, whatever the mode.

    It says plainly that the text was not scanned, not that it was found secret.
    """
    return f"[REDACTED: {length} chars not scanned]"


def unscanned_rest(count: int) -> str:
    """The replacement for the last ``count`` values of a list or mapping, dropped unread."""
    return f"[REDACTED: {count} more values not scanned]"


def _replacement(replacer: Replacer, text: str, hint: str, rules: list[str]) -> str:
    if SCAN_LIMIT in rules:
        return unscanned(len(text))
    return replacer.replace(text, hint, shows_length(rules))


def shows_length(rules: list[str] | tuple[str, ...]) -> bool:
    """May a mask show the hidden length of a region found by ``rules``? (Only for known formats.)"""
    for rule in rules:
        if rule.startswith("key:") or rule in _NAMED_RULES or rule.startswith("custom"):
            return False
    return True


def render(text: str, findings: list[Finding], replacer: Replacer, tally: list[tuple[str, ...]]) -> str:
    """Replace every finding in ``text``; overlapping findings are merged into their union.

    Merging by union means a secret is never half-kept because two detectors disagreed on its
    extent. One entry per replaced region is appended to ``tally`` (its rule names).
    """
    if not findings:
        return text
    # Earliest first, longest first, and among equals the one with a public hint (for mask mode).
    findings.sort(key=lambda f: (f[0], -f[1], not f[3]))
    pieces: list[str] = []
    last = 0
    start, end, rule, hint = findings[0]
    rules = [rule]
    for f_start, f_end, f_rule, _f_hint in findings[1:]:
        if f_start < end:
            if f_end > end:
                end = f_end
            if f_rule not in rules:
                rules.append(f_rule)
            continue
        pieces.append(text[last:start])
        pieces.append(_replacement(replacer, text[start:end], hint, rules))
        tally.append(tuple(rules))
        last = end
        start, end, rule, hint = f_start, f_end, f_rule, _f_hint
        rules = [rule]
    pieces.append(text[last:start])
    pieces.append(_replacement(replacer, text[start:end], hint, rules))
    tally.append(tuple(rules))
    pieces.append(text[end:])
    return "".join(pieces)

"""Finds secret-shaped values anywhere in a string: tokens, credentials, keys, card numbers.

Design, for speed and for bounded work on 100 KB stack traces:

* Every detector is *triggered by a literal needle* (``sk-``, ``eyJ``, ``://``, ``=`` ...) found
  with ``in`` / ``str.find``, which run at memory speed in C; most strings contain none and
  cost a handful of ``in`` checks. Regular expressions are then only *anchored* at a needle
  (``pattern.match(text, pos)``), so there is one attempt per occurrence instead of one per
  character, and every pattern is a run of character classes with no nested quantifiers.
* Occurrences are only tried at the start of a token (the previous character is not a token
  character), and scanning resumes after a finding, so each character is examined a bounded
  number of times: total work is linear in the length of the string. The whole string is
  scanned, however long; nothing is skipped, so there is no unscanned tail to worry about.
* Detectors return *findings* (offsets and a rule name); the caller merges overlaps and
  renders replacements, so detectors never need to agree with each other.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
import threading
from collections.abc import Callable, Sequence

from botanu.redaction._keys import GENERIC
from botanu.redaction._replace import Finding
from botanu.redaction._shapes import (
    TOKEN_CHARS,
    char_classes,
    is_card_number,
    is_not_a_secret,
    is_wordy,
    looks_random,
)
from botanu.redaction._urls import dangling_value, query_findings, relative_extent, url_extent, url_findings


class _Kind:
    """One vendor token format: an anchored pattern, a rule name, and its public prefix length."""

    __slots__ = ("hint_len", "pattern", "rule")

    def __init__(self, pattern: str, rule: str, hint_len: int) -> None:
        self.pattern = re.compile(pattern)
        self.rule = rule
        self.hint_len = hint_len


_STRIPE = _Kind(r"[srp]k_(?:live|test)_[A-Za-z0-9]{16,}", "stripe_key", 8)
_GITHUB = _Kind(r"gh[pousr]_[A-Za-z0-9]{30,}", "github_token", 4)
_AWS = _Kind(r"A[KS]IA[A-Z0-9]{16}(?![A-Za-z0-9])", "aws_access_key_id", 4)

# needle -> format (see Scanner.findings for the cheap gate in front of these).
_KINDS: dict[str, _Kind] = {
    # sk- is handled by _openai() (OpenAI and Anthropic share the prefix).
    "xox": _Kind(r"xox[abprse]-[A-Za-z0-9\-]{12,}", "slack_token", 5),
    "xapp-": _Kind(r"xapp-[A-Za-z0-9\-]{12,}", "slack_token", 5),
    "glpat-": _Kind(r"glpat-[A-Za-z0-9_\-]{20,}", "gitlab_token", 6),
    "pypi-": _Kind(r"pypi-[A-Za-z0-9_\-]{40,}", "pypi_token", 5),
    "sk_": _STRIPE,
    "rk_": _STRIPE,
    "pk_": _STRIPE,
    "whsec_": _Kind(r"whsec_[A-Za-z0-9+/=]{20,}", "stripe_key", 6),
    "ghp_": _GITHUB,
    "gho_": _GITHUB,
    "ghs_": _GITHUB,
    "ghu_": _GITHUB,
    "ghr_": _GITHUB,
    "github_pat_": _Kind(r"github_pat_[A-Za-z0-9_]{40,}", "github_token", 11),
    "npm_": _Kind(r"npm_[A-Za-z0-9]{30,}", "npm_token", 4),
    "hf_": _Kind(r"hf_[A-Za-z0-9]{30,}", "huggingface_token", 3),
    "ya29.": _Kind(r"ya29\.[A-Za-z0-9_\-]{20,}", "google_oauth_token", 5),
    "SG.": _Kind(r"SG\.[A-Za-z0-9_\-]{16,}\.[A-Za-z0-9_\-]{16,}", "sendgrid_key", 3),
    "eyJ": _Kind(r"eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{4,}(?:\.[A-Za-z0-9_\-]*){0,3}", "jwt", 3),
    "AKIA": _AWS,
    "ASIA": _AWS,
    "AIza": _Kind(r"AIza[A-Za-z0-9_\-]{35}(?![A-Za-z0-9_\-])", "google_api_key", 4),
}
_OPENAI_RE = re.compile(r"sk-(ant-|proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,}")

_NEEDLES = ("sk-", *_KINDS)

# The "no URL here" marker for Scanner.findings (never appended to: a list is made when needed).
_NO_SPANS: list[tuple[int, int]] = []


def _marks_outside(text: str, spans: list[tuple[int, int]]) -> bool:
    """Is there a "?" or "#" outside the absolute URLs (cheap: searched at C speed)?"""
    if not spans:
        return True
    if len(spans) == 1:  # the common case: one URL in the string
        first, last = spans[0]
        return (
            text.find("?", 0, first) >= 0 or text.find("#", 0, first) >= 0
            or text.find("?", last) >= 0 or text.find("#", last) >= 0
        )  # fmt: skip
    inside = 0
    for first, last in spans:
        inside += text.count("?", first, last) + text.count("#", first, last)
    return text.count("?") + text.count("#") > inside


# "?" or "#": where a scheme-less URL's query or fragment may start.
_QUERY_MARK_RE = re.compile(r"[?#](?=[^\s=&#?\"'<>\\`]{1,128}=)")  # (a parameter must follow)
# How deep the current thread is in nested URL values (see Scanner._nested).
_NESTING = threading.local()

# "Authorization: Bearer <token>"-style credentials in free text.
_SCHEMES: dict[str, str] = {
    "Bearer ": "bearer_token", "bearer ": "bearer_token", "BEARER ": "bearer_token",
    "Basic ": "basic_auth", "basic ": "basic_auth", "BASIC ": "basic_auth",
    "Token ": "auth_token", "token ": "auth_token", "TOKEN ": "auth_token",
    "Negotiate ": "auth_token",
}  # fmt: skip
_CREDENTIAL_RE = re.compile(r"[ \t]*([A-Za-z0-9._~+/\-]+=*)")

# Case-insensitive: hand-edited and "prettified" keys arrive as "-----begin private key-----".
_PEM_BEGIN_RE = re.compile(r"-----begin ", re.IGNORECASE)
_PEM_RE = re.compile(r"-----BEGIN (?:[A-Z0-9]+ ){0,3}PRIVATE KEY(?: BLOCK)?-----", re.IGNORECASE)
_PEM_END_RE = re.compile(r"-----end ", re.IGNORECASE)

# An AWS secret access key written right after its key id ("AKIA... wJalr...", a CSV row, a
# "id:secret" pair): 40 base64 characters, separated from the id only by blanks or punctuation.
_AWS_SECRET_AFTER_RE = re.compile(r"[\s\"',;:=|]{1,8}([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])")

# key = value / key: value / "key": "value" / key => value (see _assignments). Matched on the
# *reversed* text, so that every attempt is anchored at a separator (which the regex engine finds
# at C speed) and reads the key backwards: the separator, up to eight blanks, an optional closing
# quote (maybe escaped), and the identifier's last 64 characters. Forwards, a pattern that starts
# with the identifier is tried at every character of every word.
# A ":" followed by "//" (reversed: preceded) is a URL's scheme, never tried as a key.
_ASSIGNMENT_REVERSED_RE = re.compile(r"[:=](?<!//:)[ \t]{0,8}(?:[\"']\\?)?([A-Za-z0-9_.\-]{1,64})")
_VALUE_RE = re.compile(
    r"""[ \t]*(?:
        "(?P<dq>[^"\\\n]*(?:\\.[^"\\\n]*)*)"
      | '(?P<sq>[^'\\\n]*(?:\\.[^'\\\n]*)*)'
      | \\"(?P<edq>[^"\\\n]*)\\"
      | (?P<open>["'])(?P<rest>[^\n]*)
      | (?P<scheme>(?i:bearer|basic|token|digest|negotiate)[ \t]+)?(?P<bare>[^\s"'&,;<>()\[\]{}\\]*)
    )""",
    re.VERBOSE,
)

# Where an unquoted value after a sensitive key ends. A human-chosen secret may contain blanks and
# any punctuation ("Tr0ub4dor&3xyz", "correct horse battery staple"), so it runs to the end of the
# line unless the surrounding syntax ends it first:
#   * a line end, or an escaped one / an escaped quote inside a repr or JSON string (\n, \", ...);
#   * the start of the next pair: blanks and/or one of , ; & and then ``name=`` / ``name:`` /
#     ``"name":`` ("password=x, user=bob", "token=x&page=2", "pwd=x user=y");
#   * a closing bracket or quote that closes one opened before the key on the same line (and not
#     in the value), followed by the end of the text, a blank or punctuation ("connect(password=x)",
#     "'password=x' sent"); "password=abc)" keeps its ")" in the secret.
# Erring on the long side is the safe side: the worst case masks some prose after a password.
_NEXT_KEY = r"""["']?[A-Za-z_][\w.\-]{0,63}["']?[ \t]*(?:=(?!=)|:(?![/:]))"""
_BARE_END_RE = re.compile(
    r"[\r\n]|\\[nrt\"']"
    r"|[ \t]*[,;&][ \t]*(?=" + _NEXT_KEY + r")|[ \t]+(?=" + _NEXT_KEY + r")"
    r"|[)\]}>\"'](?=$|[\s,;&)\]}>\"'.:]|\\[nrt\"'])"
)
_OPENERS = {")": "(", "]": "[", "}": "{", ">": "<"}
# The first unquoted token (how far a *generic* key's value goes: key=, signature= carry
# machine-made tokens, which never contain blanks).
_TOKEN_END_RE = re.compile(r"[\s\"'&,;<>()\[\]{}\\]")

# Starts with a character class (not a look-behind) so the regex engine can skip non-digits fast.
_CARD_RE = re.compile(r"[0-9](?:[ \-]?[0-9]){12,18}(?![0-9])")
_NON_DIGIT_BYTES = bytes(b for b in range(256) if not 48 <= b <= 57)
_DIGIT_RUN_RE = re.compile(r"[0-9]+")
_CARD_SHAPE = bytes(
    ord("d") if 48 <= b <= 57 else ord("s") if b in (32, 45) else ord("x") for b in range(256)
)
# Every card scheme's numbers start with 2 to 6 (see card_brand_ok): others are rejected at once.
_CARD_FIRST_DIGITS = frozenset("23456")

# Optional PII (pii=True).
_EMAIL_RE = re.compile(
    r"(?<![A-Za-z0-9._%+\-])[A-Za-z0-9._%+\-]{1,64}@[A-Za-z0-9\-]{1,63}(?:\.[A-Za-z0-9\-]{1,63})+"
)
# IPv4: candidates found by a loose pattern that starts with a character class (the engine skips
# to digits fast; a look-behind first is tried at every character, ~7x slower), then checked
# strictly at the candidate's start, with the boundary before it checked in Python.
_IPV4_CANDIDATE_RE = re.compile(r"[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}")
_IPV4_RE = re.compile(
    r"(?:(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}"
    r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(?![0-9]|\.[0-9])"
)
# An IPv6 address has "::" or at least six colons (eight groups, or six and an IPv4 tail): text
# with neither ("12:30", "13:16:47") is not searched, and candidates are checked the same way
# before the (slow) parse.
_IPV6_GROUPS_RE = re.compile(r"(?:[0-9A-Fa-f]{1,4}:){5}")
_IPV6_CANDIDATE_RE = re.compile(r"(?<![0-9A-Za-z:.])[0-9A-Fa-f:.]{3,45}(?![0-9A-Za-z:.])")
_PHONE_RE = re.compile(
    r"(?<![0-9A-Za-z+])(?:\+[1-9][0-9]{0,3}[ .\-]?(?:\(?[0-9]{1,4}\)?[ .\-]?){1,4}[0-9]{2,4}"
    r"|\(?[2-9][0-9]{2}\)?[ .\-][2-9][0-9]{2}[ .\-][0-9]{4})(?![0-9])"
)


class Scanner:
    """Runs every value detector over one string and returns findings.

    ``classify_key`` is the (cached) key-name classifier shared with the redactor, so
    ``password=...`` in free text follows exactly the same rules as a ``password`` attribute.
    """

    def __init__(
        self,
        classify_key: Callable[[str], str | None],
        param_rule: Callable[[str], str | None],
        pii: bool = False,
        patterns: Sequence[re.Pattern[str]] = (),
    ) -> None:
        self._classify_key = classify_key
        self._param_rule = param_rule
        self.pii = pii
        self.patterns = tuple(patterns)
        self._query_cache: dict[str, tuple[Finding, ...]] = {}

    def findings(self, text: str, shape: str = "text") -> list[Finding]:
        """All findings in ``text``.

        ``shape`` is ``"text"`` (free text, URLs found inside), ``"url"`` (the whole string is one
        absolute or relative URL, e.g. ``url.full`` or ``http.target``) or ``"query"`` (a bare
        query string, e.g. ``url.query``).
        """
        out: list[Finding] = []
        if "-----" in text:
            _pem(text, out)
        # Where URLs are (their own rules apply there: "&" ends a value in a query, not in prose).
        spans: list[tuple[int, int]] = _NO_SPANS
        if shape == "text":
            if "://" in text:
                spans = []
                self._urls(text, out, spans)
            if ("?" in text or "#" in text) and _marks_outside(text, spans):
                if spans is _NO_SPANS:
                    spans = []
                self._relative_urls(text, out, spans)
        elif shape == "url":
            url_findings(text, 0, len(text), self._param_rule, out, self._query_cache, self._nested)
        else:
            query_findings(text, self._param_rule, out, self._nested)
        # The needle checks are written out (not looped) because this is the hot path: most
        # strings fail every one of them, and a chain of ``in`` tests is the cheapest way to know.
        if (
            (
                "-" in text
                and ("sk-" in text or "xox" in text or "xapp-" in text or "glpat-" in text or "pypi-" in text)
            )
            or (
                "_" in text
                and (
                    "k_" in text
                    or "whsec_" in text
                    or "gh" in text
                    or "_pat_" in text
                    or "npm_" in text
                    or "hf_" in text
                )
            )
            or ("." in text and ("eyJ" in text or "ya29." in text or "SG." in text))
            or ("A" in text and ("AKIA" in text or "ASIA" in text or "AIza" in text))
        ):
            for needle in _NEEDLES:
                if needle in text:
                    _tokens(text, needle, out)
        if " " in text and (
            "earer " in text or "asic " in text or "oken " in text or "EARER " in text or "ASIC " in text
            or "OKEN " in text or "Negotiate " in text
        ):  # fmt: skip
            for word, rule in _SCHEMES.items():
                if word in text:
                    _scheme_credentials(text, word, rule, out)
        if shape == "text" and (":" in text or "=" in text):
            self._assignments(text, out, spans)
        if len(text) >= 13:
            raw = text.encode("utf-8", "surrogatepass")
            # (UTF-8 never uses bytes 0x30-0x39 inside multi-byte characters: this counts ASCII digits.)
            if len(raw.translate(None, _NON_DIGIT_BYTES)) >= 13:
                # A card has 13 digits in a row or starts with four digits, a separator and three
                # more: checked on a map of the text (digit -> d, blank or dash -> s) at C speed,
                # since the card pattern itself is slow on digit-dense text (logs, timestamps).
                digit_map = raw.translate(_CARD_SHAPE)
                if b"ddddsddd" in digit_map or b"ddddddddddddd" in digit_map:
                    _cards(text, out)
        if self.pii:
            _pii(text, out)
        if self.patterns:
            for index, pattern in enumerate(self.patterns, 1):
                _custom(text, pattern, f"custom_pattern_{index}", out)
        return out

    def _urls(self, text: str, out: list[Finding], spans: list[tuple[int, int]]) -> None:
        sep = text.find("://")
        while sep >= 0:
            start, end = url_extent(text, sep)
            url_findings(text, start, end, self._param_rule, out, self._query_cache, self._nested)
            if text[end - 1] == "=":
                self._dangling(text, start, end, out)
            spans.append((start, end))
            sep = text.find("://", max(end, sep + 3))

    def _relative_urls(self, text: str, out: list[Finding], spans: list[tuple[int, int]]) -> None:
        """Scheme-less URLs with a query or fragment (HTTP clients' error messages print the
        request target alone: ``Max retries exceeded with url: /oauth/token?code=...``)."""
        absolute = list(spans)
        index = 0
        covered = 0  # the end of the last relative URL: marks before it are inside it
        param_rule = self._param_rule
        for mark in _QUERY_MARK_RE.finditer(text):  # (a parameter follows each mark)
            at = mark.start()
            if at < covered:
                continue
            if absolute:
                while index < len(absolute) and absolute[index][1] <= at:
                    index += 1
                if index < len(absolute) and absolute[index][0] <= at:
                    continue  # inside an absolute URL, already done
            start, end = relative_extent(text, at, checked=True)  # type: ignore[misc]
            url_findings(text, start, end, param_rule, out, self._query_cache, self._nested)
            if text[end - 1] == "=":
                self._dangling(text, start, end, out)
            spans.append((start, end))
            covered = end
        spans.sort()

    def _url_at(
        self, text: str, start: int, end: int, out: list[Finding], spans: list[tuple[int, int]]
    ) -> None:
        url_findings(text, start, end, self._param_rule, out, self._query_cache, self._nested)
        if text[end - 1] == "=":
            self._dangling(text, start, end, out)
        spans.append((start, end))

    def _dangling(self, text: str, start: int, end: int, out: list[Finding]) -> None:
        dangling = dangling_value(text, start, end, self._param_rule)
        if dangling is not None:
            out.append(dangling)

    def _nested(self, value: str) -> bool:
        """Does a URL parameter's (decoded) value hold a secret? Depth-limited: each layer of
        nesting is scanned by a fresh call, and past three layers the value counts as secret."""
        depth = getattr(_NESTING, "depth", 0)
        if depth >= 3:
            return True  # fail closed: nobody nests URLs this deep by accident
        _NESTING.depth = depth + 1
        try:
            return bool(self.findings(value))
        finally:
            _NESTING.depth = depth

    def _assignments(self, text: str, out: list[Finding], spans: list[tuple[int, int]]) -> None:
        """``key=value``, ``key: value``, ``"key": "value"``, ``key => value`` where key is sensitive.

        Separators inside a URL are left to the URL rules (``spans``, sorted), which know that
        "&" ends a query value.
        """
        resume = 0
        length = len(text)
        index = 0
        classify = self._classify_key
        backwards = text[::-1]
        # First the distinct keys (findall builds no match objects): long text usually repeats a
        # few keys many times, and most often none of them is sensitive, which ends it here.
        sensitive = {key for key in set(_ASSIGNMENT_REVERSED_RE.findall(backwards)) if classify(key[::-1])}
        if not sensitive:
            return
        last = length - 1
        found_keys = [
            (last - m.start(), m.group(1))
            for m in _ASSIGNMENT_REVERSED_RE.finditer(backwards)
            if m.group(1) in sensitive
        ]
        for at, reversed_key in reversed(found_keys):  # at: the separator's offset
            if at < resume:
                continue
            rule = classify(reversed_key[::-1])
            if rule is None:
                continue
            if spans:
                while index < len(spans) and spans[index][1] <= at:
                    index += 1
                # A value that starts inside the URL is the URL rules' business; one that starts
                # where the URL ended ("?password=<x>": "<" ends a URL) is not.
                if index < len(spans) and spans[index][0] <= at and at + 1 < spans[index][1]:
                    continue
            after = at + 1
            nxt = text[after] if after < length else ""
            if text[at] == ":":
                if nxt == ":" or (nxt == "/" and text.startswith("//", after)):
                    continue  # a URL scheme, IPv6 or C++ scope, not an assignment
                if nxt == "=":
                    after += 1
            elif nxt == "=" or nxt == ">":
                after += 1  # "==" / "=>"
            value = _VALUE_RE.match(text, after)
            if value is None:
                continue
            found = _value_finding(text, value, rule)
            if found is not None:
                out.append(found)
                resume = found[1]


def _value_finding(text: str, value: re.Match[str], rule: str) -> Finding | None:
    for group in ("dq", "sq", "edq", "rest"):
        if value.group(group) is not None:
            start, end = value.span(group)
            hint = ""
            break
    else:
        start = value.start("bare")
        hint = value.group("scheme") or ""
        if rule is GENERIC:
            stop = _TOKEN_END_RE.search(text, start)
            end = stop.start() if stop else len(text)
        else:
            end = _bare_end(text, start)
        if hint:
            start = value.start("scheme")
    secret = text[start:end]
    if is_not_a_secret(secret[len(hint) :].strip()):
        return None
    if rule is GENERIC:
        if not looks_random(secret):
            return None
        rule = "key_value"
    return (start, end, rule, hint)


def _bare_end(text: str, start: int) -> int:
    """End of an unquoted value after a sensitive key (see ``_BARE_END_RE``)."""
    position = start
    before: str | None = None
    while True:
        stop = _BARE_END_RE.search(text, position)
        if stop is None:
            end = len(text)
            break
        at = stop.start()
        closer = text[at]
        if closer in _OPENERS or closer == '"' or closer == "'":
            # A closer ends the value only if it closes something opened before the key on the
            # same line ("f(password=x)", "'password=x'"); otherwise it is part of the secret
            # ("password=abc)", "password=it's").
            if before is None:
                line_start = text.rfind("\n", max(0, start - 1024), start) + 1
                before = text[max(line_start, start - 1024) : start]
            opener = _OPENERS.get(closer, closer)
            opened = before.count(opener) - (before.count(closer) if opener != closer else 0)
            if opener == closer:
                opened %= 2
            if opened <= 0 or (opener != closer and text.find(opener, start, at) >= 0):
                position = at + 1
                continue
        end = at
        break
    while end > start and text[end - 1] in " \t":
        end -= 1
    return end


def _pem(text: str, out: list[Finding]) -> None:
    for begin_match in _PEM_BEGIN_RE.finditer(text):
        begin = begin_match.start()
        if out and out[-1][2] == "private_key" and begin < out[-1][1]:
            continue  # inside the key already found
        match = _PEM_RE.match(text, begin)
        if match is None:
            continue
        end_marker = _PEM_END_RE.search(text, match.end())
        if end_marker is None:
            end = len(text)  # a truncated key: everything after the header is key material
        else:
            close = text.find("-----", end_marker.end())
            end = close + 5 if close >= 0 else len(text)
        out.append((begin, end, "private_key", ""))


def _tokens(text: str, needle: str, out: list[Finding]) -> None:
    at = text.find(needle)
    while at >= 0:
        if at == 0 or text[at - 1] not in TOKEN_CHARS:
            found = _openai(text, at) if needle == "sk-" else _vendor(text, at, _KINDS[needle])
            if found is not None:
                out.append(found)
                at = text.find(needle, found[1])
                continue
        at = text.find(needle, at + 1)


def _vendor(text: str, at: int, kind: _Kind) -> Finding | None:
    match = kind.pattern.match(text, at)
    if match is None:
        return None
    end = match.end()
    if kind is _AWS:
        # The secret key right after its id (no key name in between): the finding covers both,
        # so the id's hint is kept and the secret goes with it.
        pair = _AWS_SECRET_AFTER_RE.match(text, end)
        if pair is not None and char_classes(pair.group(1)) >= 2 and not is_wordy(pair.group(1)):
            end = pair.end()
    return (at, end, kind.rule, text[at : at + kind.hint_len])


def _openai(text: str, at: int) -> Finding | None:
    match = _OPENAI_RE.match(text, at)
    if match is None:
        return None
    sub = match.group(1) or ""
    tail = match.group()[3 + len(sub) :]
    # "sk-" is a weak prefix (sk-learn-compatible-estimator): demand a random-looking tail.
    if is_wordy(tail) or char_classes(tail) < 2:
        return None
    rule = "anthropic_api_key" if sub == "ant-" else "openai_api_key"
    return (at, match.end(), rule, "sk-" + sub)


def _scheme_credentials(text: str, word: str, rule: str, out: list[Finding]) -> None:
    at = text.find(word)
    while at >= 0:
        if at == 0 or not text[at - 1].isalnum():
            match = _CREDENTIAL_RE.match(text, at + len(word))
            if match is not None and _credential_ok(match.group(1), rule, word):
                out.append((at, match.end(), rule, text[at : match.start(1)]))
        at = text.find(word, at + 1)


def _credential_ok(credential: str, rule: str, word: str = "") -> bool:
    if word in ("Bearer ", "BEARER "):
        # The header form ("Authorization: Bearer abc.def.ghi") is a credential whatever it looks like;
        # only lowercase "bearer" also starts ordinary prose ("bearer bonds").
        return len(credential) >= 6
    if rule == "basic_auth":
        try:
            decoded = base64.b64decode(credential + "=" * (-len(credential) % 4), validate=True)
            return ":" in decoded.decode("utf-8")
        except (binascii.Error, ValueError):
            return False
    if len(credential) < 8 or is_wordy(credential):
        return False
    return char_classes(credential) >= 2 or len(credential) >= 24


def _cards(text: str, out: list[Finding]) -> None:
    position = 0
    while True:
        match = _CARD_RE.search(text, position)
        if match is None:
            return
        start = match.start()
        if start > 0 and "0" <= text[start - 1] <= "9":
            # Inside a longer digit run: no card starts anywhere in the rest of it either.
            position = _DIGIT_RUN_RE.match(text, start).end()  # type: ignore[union-attr]
            continue
        candidate = match.group()
        length = _card_length(candidate) if candidate[0] in _CARD_FIRST_DIGITS else 0
        if length:
            out.append((start, start + length, "credit_card", ""))
            position = start + length
        else:
            # The run may start with an unrelated number ("order 12 4111 1111 ..."): retry from
            # the next digit group rather than skipping the whole run (once per group, not once
            # per digit).
            position = _DIGIT_RUN_RE.match(text, start).end()  # type: ignore[union-attr]


def _card_length(candidate: str) -> int:
    """Length of the card number at the start of ``candidate`` (0 if none).

    The pattern is greedy, so "4111 1111 1111 1111 123" (a CVV after the number) arrives as one
    candidate: drop trailing digit groups until a valid number remains. A run without
    separators must be a card as a whole (its prefixes would be ids that pass Luhn by chance).
    Separated numbers: one kind of separator, three to five groups of 3-6 digits, four first.
    """
    first_group = len(candidate) - len(candidate.lstrip("0123456789"))
    if first_group == len(candidate):
        return first_group if is_card_number(candidate) else 0
    if first_group != 4:
        # Separated card numbers start with a group of four; otherwise only the first run can
        # be a card on its own ("378282246310005 0": an unseparated number, then another one).
        return first_group if is_card_number(candidate[:first_group]) else 0
    separator = candidate[4]
    other = "-" if separator == " " else " "
    if other in candidate:  # one kind of separator only: the number ends where the other starts
        candidate = candidate[: candidate.index(other)]
    groups = candidate.split(separator)[:5]
    # Only the leading groups that look like card groups can be part of the number.
    usable = 0
    for group in groups:
        if not (3 <= len(group) <= 6 and group.isdigit()):
            break
        usable += 1
    for count in range(usable, 2, -1):
        digits = "".join(groups[:count])
        if is_card_number(digits):
            return len(digits) + count - 1
    return 0


def _pii(text: str, out: list[Finding]) -> None:
    if "@" in text:
        for match in _EMAIL_RE.finditer(text):
            tld = match.group().rsplit(".", 1)[-1]
            if tld.isalpha() and len(tld) >= 2:
                out.append((match.start(), match.end(), "pii_email", ""))
    if text.count(".") >= 3:
        for candidate in _IPV4_CANDIDATE_RE.finditer(text):
            start = candidate.start()
            if start and text[start - 1] in "0123456789.":
                continue
            match = _IPV4_RE.match(text, start)
            if match is not None:
                out.append((start, match.end(), "pii_ip", ""))
    colons = text.count(":")
    if colons >= 2 and ("::" in text or (colons >= 6 and _IPV6_GROUPS_RE.search(text) is not None)):
        for match in _IPV6_CANDIDATE_RE.finditer(text):
            candidate = match.group()
            if ("::" in candidate or candidate.count(":") >= 6) and _is_ipv6(candidate):
                out.append((match.start(), match.end(), "pii_ip", ""))
    for match in _PHONE_RE.finditer(text):
        digits = sum(ch.isdigit() for ch in match.group())
        if 7 <= digits <= 15:
            out.append((match.start(), match.end(), "pii_phone", ""))


def _is_ipv6(candidate: str) -> bool:
    try:
        ipaddress.IPv6Address(candidate)
    except ValueError:
        return False
    return True


def _custom(text: str, pattern: re.Pattern[str], rule: str, out: list[Finding]) -> None:
    group = "secret" if "secret" in pattern.groupindex else 0
    for match in pattern.finditer(text):
        start, end = match.span(group)
        if end > start:
            out.append((start, end, rule, ""))

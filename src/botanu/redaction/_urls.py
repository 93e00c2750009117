"""Secrets inside URLs: userinfo, sensitive query/fragment parameters, token-shaped path segments.

A URL is cut with plain string operations (no ``urllib.parse`` round trip) so that offsets
into the original text are exact and everything that is not secret stays byte-for-byte
the same: ``https://u:p@host/a?api_key=K&page=2`` becomes
``https://[REDACTED]@host/a?api_key=[REDACTED]&page=2``. Parameter names are kept so the
trace still says which parameter was there.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Callable

from botanu.redaction._replace import Finding
from botanu.redaction._shapes import is_not_a_secret, is_placeholder, is_token_path_segment

# Characters that end a URL embedded in free text.
URL_BODY_RE = re.compile(r"[^\s\"'<>\\`]*")
_SCHEME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+.-")
_TRAILING_PUNCTUATION = ".,;:!?'\""
_CLOSERS = {")": "(", "]": "[", "}": "{"}
_PARAM_SPLIT_RE = re.compile(r"[&;]")

# Asks the caller whether a (decoded) nested value holds a secret: set by the Scanner, which
# scans it as free text (one level of nesting at a time, bounded by the Scanner's depth).
Nested = Callable[[str], bool]


def url_extent(text: str, sep: int) -> tuple[int, int]:
    """Start and end of the URL whose ``://`` is at ``sep`` inside free text."""
    start = sep
    limit = max(0, sep - 32)
    while start > limit and text[start - 1] in _SCHEME_CHARS:
        start -= 1
    match = URL_BODY_RE.match(text, sep + 3)
    end = match.end() if match else sep + 3
    return start, _trim_end(text, start, end, sep + 3)


def _trim_end(text: str, start: int, end: int, floor: int) -> int:
    """``end`` moved back over punctuation that belongs to the prose around a URL.

    Trailing punctuation belongs to the prose ("see https://x/y."), and so does a closing
    bracket the URL did not open ("(see https://x/y)"). Bounded: at most 16 characters.
    """
    for _ in range(16):
        if end <= floor:
            break
        last = text[end - 1]
        unopened = last in _CLOSERS and text.count(_CLOSERS[last], start, end) < text.count(last, start, end)
        if not (last in _TRAILING_PUNCTUATION or unopened):
            break
        end -= 1
    return end


# A URL without a scheme is only recognised by its query or fragment: "?" or "#" directly followed
# by a parameter name and "=" ("/oauth/token?code=...", "/cb#access_token=..."). A "?" in prose
# ("why? because=...") has a blank after it, so it never matches.
_PARAM_START_RE = re.compile(r"[^\s=&#?\"'<>\\`]{1,128}=")
# The URL's start, found backwards: one anchored match on the reversed window before the "?".
_URL_BACKWARDS_RE = re.compile(r"[^\s\"'<>\\`]*")
_RELATIVE_LOOKBACK = 2048


def relative_extent(text: str, mark: int, checked: bool = False) -> tuple[int, int] | None:
    """Start and end of a scheme-less URL (a path, or host and path) whose "?" / "#" is at ``mark``.

    None when what follows the mark is not a parameter (``checked``: the caller knows it is).
    The path is searched back at most 2 KB (a longer path is cut there: its query, where
    secrets sit, is still examined whole).
    """
    if not checked and _PARAM_START_RE.match(text, mark + 1) is None:
        return None
    # Most paths are short: look back 128 characters first, and further only if that was not enough.
    reach = _URL_BACKWARDS_RE.match(text[max(0, mark - 128) : mark][::-1]).end()  # type: ignore[union-attr]
    if reach == 128:
        window = text[max(0, mark - _RELATIVE_LOOKBACK) : mark][::-1]
        reach = _URL_BACKWARDS_RE.match(window).end()  # type: ignore[union-attr]
    start = mark - reach
    end = URL_BODY_RE.match(text, mark).end()  # type: ignore[union-attr]
    if text[end - 1] in _TRAILING_PUNCTUATION or text[end - 1] in _CLOSERS:
        end = _trim_end(text, start, end, mark + 1)
    return start, end


_DANGLING_END_RE = re.compile(r"[\s&#]")


def dangling_value(
    text: str, start: int, end: int, param_rule: Callable[[str], str | None]
) -> Finding | None:
    """The value of a secret parameter that starts with a character ending a URL in prose.

    ``?code=<x>`` or ``?password="x"`` in a message: the URL's extent stops right after ``=``,
    so without this the value would be nobody's business. It runs to the next blank or ``&``.
    """
    if end >= len(text) or end - start < 3 or text[end - 1] != "=" or text[end].isspace():
        return None
    name_start = max(text.rfind(mark, start, end - 1) for mark in "?&;#") + 1
    if name_start <= start:
        return None
    rule = param_rule(text[name_start : end - 1])
    if rule is None:
        return None
    stop = _DANGLING_END_RE.search(text, end)
    return (end, stop.start() if stop else len(text), rule, "")


def url_findings(
    text: str,
    start: int,
    end: int,
    param_rule: Callable[[str], str | None],
    out: list[Finding],
    query_cache: dict[str, tuple[Finding, ...]] | None = None,
    nested: Nested | None = None,
) -> None:
    """Append findings for the URL (absolute or relative) that spans ``text[start:end]``.

    ``query_cache`` maps query strings to their findings (offsets relative to the query): the
    query part of URLs repeats far more than the path (``?page=2`` after varying ids).
    """
    query_at = text.find("?", start, end)
    hash_at = text.find("#", start, end)
    # The first "?" or "#" ends the path (and the authority).
    if hash_at < 0:
        path_end = end if query_at < 0 else query_at
    else:
        path_end = hash_at if query_at < 0 or hash_at < query_at else query_at
        if query_at > hash_at:
            query_at = -1  # a "?" inside the fragment is not a query
    path_start = start
    sep = text.find("://", start, path_end)
    if sep >= 0:
        authority_start = sep + 3
        slash = text.find("/", authority_start, path_end)
        path_start = slash if slash >= 0 else path_end
        at = text.rfind("@", authority_start, path_start)
        if at > authority_start and not is_placeholder(text[authority_start:at]):
            out.append((authority_start, at, "url_userinfo", ""))
    if path_end - path_start >= 20:
        _path_findings(text, path_start, path_end, param_rule, out)
    if query_at >= 0:
        query_end = hash_at if hash_at > query_at else end
        if query_cache is None:
            _param_findings(text, query_at + 1, query_end, param_rule, out, nested=nested)
        else:
            query = text[query_at + 1 : query_end]
            found = query_cache.get(query)
            if found is None:
                fresh: list[Finding] = []
                _param_findings(query, 0, len(query), param_rule, fresh, nested=nested)
                found = tuple(fresh)
                if len(query_cache) >= 1024:
                    query_cache.clear()
                query_cache[query] = found
            offset = query_at + 1
            for f_start, f_end, rule, hint in found:
                out.append((f_start + offset, f_end + offset, rule, hint))
    if hash_at >= 0 and text.find("=", hash_at, end) >= 0:
        # OAuth implicit flow puts access_token=... in the fragment.
        _param_findings(text, hash_at + 1, end, param_rule, out, nested=nested)


def query_findings(
    text: str, param_rule: Callable[[str], str | None], out: list[Finding], nested: Nested | None = None
) -> None:
    """Findings for a bare query string such as the value of ``url.query`` (``a=1&token=x``)."""
    _param_findings(text, 0, len(text), param_rule, out, nested=nested)


def _path_findings(
    text: str, start: int, end: int, param_rule: Callable[[str], str | None], out: list[Finding]
) -> None:
    position = start
    for segment in text[start:end].split("/"):
        seg_start = position
        position += len(segment) + 1
        if len(segment) < 20:
            continue
        if ";" in segment:  # matrix parameters: /login;jsessionid=...
            name_end = segment.index(";")
            _param_findings(text, seg_start + name_end + 1, seg_start + len(segment), param_rule, out, ";")
            segment = segment[:name_end]
        offset = 0
        for part in segment.split(":") if ":" in segment else (segment,):
            if is_token_path_segment(part):
                out.append((seg_start + offset, seg_start + offset + len(part), "url_path_token", ""))
            offset += len(part) + 1


def _param_findings(
    text: str,
    start: int,
    end: int,
    param_rule: Callable[[str], str | None],
    out: list[Finding],
    separators: str = "&;",
    nested: Nested | None = None,
) -> None:
    position = start
    query = text[start:end]
    if separators == "&;" and ";" in query:
        pieces = _PARAM_SPLIT_RE.split(query)
    else:
        pieces = query.split(separators[0])
    for piece in pieces:
        piece_start = position
        position += len(piece) + 1
        equals = piece.find("=")
        if equals <= 0 or equals == len(piece) - 1:
            continue
        name = piece[:equals]
        if "%" in name or "+" in name:
            name = urllib.parse.unquote_plus(name)
        rule = param_rule(name)
        value = piece[equals + 1 :]
        if rule is None:
            # A parameter whose value is itself a URL or a query (OAuth's redirect_uri, a login
            # page's next=, often percent-encoded once or twice) carries that URL's secrets.
            if nested is not None and _may_nest(value) and nested(_decoded(value)):
                out.append((piece_start + equals + 1, piece_start + len(piece), "url_nested", ""))
            continue
        if is_not_a_secret(urllib.parse.unquote_plus(value) if "%" in value or "+" in value else value):
            continue
        out.append((piece_start + equals + 1, piece_start + len(piece), rule, ""))


def _may_nest(value: str) -> bool:
    """Cheap test: could this parameter value hold a URL or a query (encoded or not)?"""
    if len(value) < 8:
        return False
    if "%" in value:
        return True
    return "://" in value or "?" in value or "=" in value


def _decoded(value: str) -> str:
    """``value`` percent-decoded until stable (at most three layers: redirect chains double-encode)."""
    for _ in range(3):
        if "%" not in value and "+" not in value:
            break
        decoded = urllib.parse.unquote_plus(value)
        if decoded == value:
            break
        value = decoded
    return value

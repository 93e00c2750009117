"""The Redactor: key-name rules + value detectors + a replacement mode, with caches for speed."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from itertools import filterfalse
from typing import TYPE_CHECKING, Any

from botanu._safety import misuse, warn_once
from botanu.redaction._budget import SCAN_NS, allows, cpu_ns, exhausted, item_budget, one_item, worst_cost
from botanu.redaction._detectors import Scanner
from botanu.redaction._keys import GENERIC, KeyRules
from botanu.redaction._replace import (
    NOT_SCANNED,
    SCAN_LIMIT,
    TOO_DEEP,
    Finding,
    Replacer,
    render,
    unscanned,
    unscanned_rest,
)
from botanu.redaction._shapes import is_card_number, is_placeholder, looks_random
from botanu.redaction._stats import STATS

if TYPE_CHECKING:
    from botanu._config import Settings

logger = logging.getLogger("botanu")

MODES = ("mask", "remove", "hash")

# Attribute keys whose value is a whole URL / a bare query string (OpenTelemetry semantic
# conventions, old and new names).
URL_KEYS = frozenset(
    {"url.full", "http.url", "url.original", "http.target", "url.path", "http.request.url", "http.route.full"}
)
QUERY_KEYS = frozenset({"url.query"})

# Every scan draws on its item's budget (see _budget). Strings longer than _FIRST_CHUNK are
# scanned in chunks, each checked against the budget (see _bounded_findings): 1 KB first (judged
# at the worst-case cost, like a short string), then about 4 KB per chunk (judged at the string's
# average cost so far), each with context on both sides for secrets that straddle a cut.
_CHUNK = 4096
_FIRST_CHUNK = 1024
_CONTEXT_BEFORE = 128
_CONTEXT_AFTER = 256
# JSON documents up to this size are redacted structurally (keys and values as data); longer
# ones are scanned as text, chunk by chunk, so that their cost stays bounded too.
_STRUCTURAL_JSON_LEN = 16 * 1024
# Expected costs per character, in ns, of the work on a string other than its scan (each charged
# to the item's budget before it is done, the worst seen and some margin): classifying a key never
# seen before (about 300 at worst, ``1a1a1a...``), judging whether a value under a generic key
# looks random (about 180), walking a parsed JSON document apart from its strings and new keys
# (about 100, ``[[],[],...]``).
_CLASSIFY_NS_PER_CHAR = 500
_SHAPE_NS_PER_CHAR = 300
_JSON_NS_PER_CHAR = 200

# Strings shorter than this are only redacted because of their key: no detector can find a
# secret in five characters.
MIN_SCAN_LEN = 6
# Values under a generic key ("signature") shorter than this never look random.
_RANDOM_MIN_LEN = 16
# Results for short strings are cached: attribute values repeat a lot (methods, routes, hosts).
_CACHEABLE_LEN = 256
_CACHE_SIZE = 4096
_MAX_DEPTH = 32
_CLEAN_TUPLE_LEN = 16

Tally = list[tuple[str, ...]]


class _Kind:
    """What a key says about its value (when it is not sensitive; then the kind is the rule name)."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"<{self.name}>"


_PLAIN = _Kind("plain")
_URL = _Kind("url")
_QUERY = _Kind("query")
_CLEAN = CLEAN = _Kind("clean")  # cache marker: "scanned, nothing to redact"


class _DirtyKey:
    """A key that itself contains a secret (rare: a token used as a dict key)."""

    __slots__ = ("inner", "new_key", "tally")

    def __init__(self, new_key: str, tally: Tally, inner: object) -> None:
        self.new_key = new_key
        self.tally = tally
        self.inner = inner


def _replaced(
    out: dict[Any, Any] | None, items: Mapping[Any, Any], key: Any, kind: Any, new: Any, tally: Tally
) -> dict[Any, Any]:
    """``out`` (a copy of ``items`` made on the first change) with ``key`` now holding ``new``.

    A key that is itself secret-shaped (``_DirtyKey``) is replaced by its redacted form.
    """
    if out is None:
        out = dict(items)
    if type(kind) is _DirtyKey:
        del out[key]
        tally.extend(kind.tally)
        out[kind.new_key] = new
    else:
        out[key] = new
    return out


# botanu's own grouping ids: application-chosen labels, not credentials.
_GROUPING_KEYS = ("botanu.session_id",)


class Redactor:
    """Finds and replaces secrets in span data, log data and plain strings.

    Args:
        mode: ``"mask"`` (default: a public hint and the hidden length, ``sk-ant-…[93 chars]``),
            ``"remove"`` (``[REDACTED]``) or ``"hash"`` (``[HMAC:1a2b3c4d5e6f]``, keyed HMAC-SHA256).
        extra_keys: attribute names that are always secret. An entry matches the key itself
            (case-insensitive), a key ending in the same words (``ssn_last4`` matches
            ``user.ssn_last4``), or a glob (``*.internal_ref``).
        extra_patterns: regular expressions (strings or compiled) whose matches are secret
            wherever they occur. A pattern with a named group ``secret`` redacts only that group.
            An invalid pattern is reported once and skipped (strict mode raises).
        allow_keys: attribute names never treated as secret *because of their name* (for
            example ``session.id`` if your session ids are not credentials). Their values are
            still scanned for secret-shaped text.
        pii: also redact e-mail addresses, phone numbers and IPv4/IPv6 addresses.
        hash_key: the HMAC key for ``hash`` mode (str or bytes); default: random per process.
        callback: ``callback(key, original_value, redacted_value) -> value`` has the final say
            on every attribute value (span, event, link and log attributes, and values passed to
            :meth:`redact_value` / :meth:`redact_attributes`). It is called once per top-level
            attribute, also when nothing was redacted (then ``redacted_value is
            original_value``); span names, event names, status descriptions and log bodies are
            passed with the keys ``"<span.name>"``, ``"<event.name>"``, ``"<status.description>"``
            and ``"<log.body>"``. Whatever it returns is exported, so return ``redacted_value``
            to accept botanu's decision. If it raises, or returns something that is not a valid
            attribute value, the redacted value is kept and a warning is logged once.

    A Redactor is thread-safe and meant to be shared; its caches are bounded. Each call (and each
    span of a :class:`RedactingSpanProcessor`) is one item with one budget of CPU time, about 90 ms
    per MB of its text: what is left when it runs out is replaced unscanned (rule ``scan_limit``).
    """

    def __init__(
        self,
        mode: str = "mask",
        extra_keys: Iterable[str] = (),
        extra_patterns: Iterable[str | re.Pattern[str]] = (),
        allow_keys: Iterable[str] = (),
        pii: bool = False,
        hash_key: str | bytes | None = None,
        callback: Callable[[str, Any, Any], Any] | None = None,
    ) -> None:
        if not isinstance(mode, str) or mode not in MODES:
            shown = repr(mode) if isinstance(mode, str) else type(mode).__name__  # never call a user __repr__
            misuse("unknown redaction mode %s (expected mask, remove or hash); using mask", shown)
            mode = "mask"
        if isinstance(hash_key, str):
            hash_key = hash_key.encode("utf-8", "surrogatepass")  # any str is a usable key
        elif hash_key is not None and not isinstance(hash_key, bytes):
            misuse("redaction hash_key must be str or bytes; using a random per-process key")
            hash_key = None
        if callback is not None and not callable(callback):
            misuse("redaction callback must be callable; ignoring it")
            callback = None
        self.mode = mode
        self.pii = bool(pii)
        self.callback = callback
        self._keys = KeyRules(
            _strings(extra_keys, "extra_keys"), _strings(allow_keys, "allow_keys"), self.pii
        )
        self.patterns = tuple(_compile_patterns(extra_patterns))
        self._replacer = Replacer(mode, hash_key)
        self._scanner = Scanner(self._rule_for_key, self._param_rule, self.pii, self.patterns)
        # Bounded caches (cleared when full): key decisions, key rules for free text, results for
        # short strings, URLs and whole-value replacements. Dict operations are atomic under the
        # GIL, so sharing them between threads is safe.
        # Shape-based shortcuts are exact only for the built-in detectors: not with PII (phone
        # numbers are short) or user patterns (they can match anything).
        self._short_cut = not self.pii and not self.patterns
        self._key_cache: dict[str, object] = {}
        self._rule_cache: dict[str, object] = {}
        self._param_cache: dict[str, object] = {}
        self._text_cache: dict[str, object] = {}
        self._url_cache: dict[str, object] = {}
        self._whole_cache: dict[str, str] = {}
        # For the set-based fast path in attributes(): plain keys, and values known to be clean
        # under a plain key (strings, small numbers, booleans, None).
        self._plain_keys: set[str] = set()
        self._clean_values: set[Any] = set()
        self._clean_items: set[tuple[str, Any]] = set()
        # Opaque ids scanned clean once on the fast path (see _fresh_clean).
        self._ids_seen_clean: set[str] = set()
        # (URL key, URL) pairs seen clean twice (the URL cache knew it clean the second time): the
        # fast path trusts them. A set of its own, bounded on its own, so that URLs that never
        # repeat (order ids in paths) never enter it nor push out what does repeat.
        self._url_pairs: set[tuple[str, str]] = set()

    @classmethod
    def from_settings(cls, settings: Settings) -> Redactor:
        """A Redactor configured from :class:`botanu._config.Settings`.

        Uses ``redaction_mode``, ``redact_keys``, ``redact_patterns``, ``redact_allow_keys``,
        ``redact_pii``, ``redaction_hash_key`` and ``redaction_callback``. (Whether redaction
        is installed at all, ``settings.redaction``, is the pipeline's decision.)

        ``botanu.session_id`` (set by :func:`botanu.session` to group traces) is exempt
        from the key-name rule; its value is still scanned like any other.
        """
        return cls(
            mode=settings.redaction_mode,
            extra_keys=settings.redact_keys,
            extra_patterns=settings.redact_patterns,
            allow_keys=(*_GROUPING_KEYS, *settings.redact_allow_keys),
            pii=settings.redact_pii,
            hash_key=settings.redaction_hash_key,
            callback=settings.redaction_callback,
        )

    def __repr__(self) -> str:
        return (
            f"Redactor(mode={self.mode!r}, pii={self.pii}, patterns={len(self.patterns)}, "
            f"callback={'yes' if self.callback else 'no'})"
        )

    # ------------------------------------------------------------------ public API

    @one_item
    def redact_text(self, text: str) -> str:
        """``text`` with every secret-shaped part replaced (URLs, tokens, ``password=...``, ...)."""
        if not isinstance(text, str):
            return text
        tally: Tally = []
        result = self._text(str(text), tally)
        if tally:
            STATS.values_redacted(tally)
        return result

    @one_item
    def redact_url(self, url: str) -> str:
        """``url`` (absolute or relative) with userinfo, secret query values and token-shaped
        path segments replaced; parameter names and ordinary ids are kept."""
        if not isinstance(url, str):
            return url
        tally: Tally = []
        result = self._url(str(url), tally, "url")
        if tally:
            STATS.values_redacted(tally)
        return result

    @one_item
    def redact_value(self, key: str, value: Any) -> Any:
        """The value to export for attribute ``key`` (the callback, if any, has the last word).

        Strings are scanned (JSON-looking strings structurally), sequences and mappings
        recursively; a value under a secret key is replaced whole. A replaced scalar becomes a
        string; ``None`` and booleans are never changed (they cannot hold a secret).
        """
        tally: Tally = []
        result = self._attribute(key, value, tally)
        if tally:
            STATS.values_redacted(tally)
        return result

    @one_item
    def redact_attributes(self, attributes: Mapping[str, Any] | None) -> tuple[Any, int, tuple[str, ...]]:
        """Redact a mapping of attributes.

        Returns ``(attributes_or_new_dict, count, rule_names)``: the *same* object when nothing
        changed, else a new dict; ``count`` is the number of values (or regions of text)
        replaced and ``rule_names`` the sorted rule names involved (never matched text).
        """
        tally: Tally = []
        result = self._attributes(attributes, tally)
        if tally:
            STATS.values_redacted(tally)
        return result, len(tally), rule_names(tally)

    @one_item
    def redact_log(self, body: Any, attributes: Mapping[str, Any] | None = None) -> tuple[Any, Any]:
        """Redact a log record's body and attributes: ``(body, attributes)``.

        Unchanged parts are returned as the same objects. When anything changed, the returned
        attributes carry the same audit keys as spans (``botanu.redaction.count`` /
        ``botanu.redaction.rules``).
        """
        tally: Tally = []
        new_body = self._special("<log.body>", body, tally)
        new_attributes = self._attributes(attributes, tally)
        if tally:
            STATS.values_redacted(tally)
            new_attributes = with_audit(new_attributes, tally)
        return new_body, new_attributes

    # ------------------------------------------------------------------ internals used by spans

    def _attributes(self, attributes: Mapping[str, Any] | None, tally: Tally) -> Any:
        """Redacted attributes (the same object when unchanged); appends to ``tally``."""
        if not attributes:
            return attributes
        # A plain dict iterates at C speed; the SDK's BoundedAttributes (and the read-only proxy
        # around it) iterate in Python, but their copy() is a C-level dict copy.
        items = attributes if type(attributes) is dict else plain_dict(attributes)
        if self.callback is not None:
            return self._attributes_with_callback(attributes, items, tally)
        if self._known_clean(items):
            return attributes
        todo: Any
        try:
            # Next best, in C: only look at the (key, value) pairs not already known clean.
            todo = items.items() - self._clean_items
        except TypeError:  # an unhashable value (a list or dict attribute): look at everything
            todo = items.items()
        out: dict[str, Any] | None = None
        clean_items = self._clean_items
        clean_values = self._clean_values
        key_cache = self._key_cache
        text_cache = self._text_cache
        plain_keys = self._plain_keys
        url_cache = self._url_cache
        url_pairs = self._url_pairs
        todo = iter(todo)  # (one iterator: if the budget runs out, _cut_rest takes the rest of it)
        for key, value in todo:
            kind = key_cache.get(key)
            if kind is None:
                kind = self._kind(key)
            if kind is _PLAIN:
                # A plain key's values are judged by themselves alone: known as such from now on
                # (so a span whose only new values are ids and counts can take _known_clean).
                plain_keys.add(key)
                # The common case, inlined: a value that cannot hold a secret or was seen clean.
                vtype = type(value)
                if (
                    (vtype is str and (len(value) < MIN_SCAN_LEN or text_cache.get(value) is _CLEAN))
                    or vtype is bool
                    or vtype is float
                    or value is None
                    or (vtype is int and -1_000_000_000_000 < value < 1_000_000_000_000)
                ):
                    # Sets compare by equality and 4111111111111111 == 4111111111111111.0: keep
                    # large floats out so that a float can never vouch for a card number.
                    if vtype is not float or -1e12 < value < 1e12:
                        clean_values.add(value)
                        clean_items.add((key, value))
                    continue
                if vtype is tuple and _clean_tuple(value, text_cache, self._short_cut):
                    # A short list of known-clean words (finish reasons, methods, tags) repeats
                    # from span to span too: remembered whole, like a scalar.
                    clean_values.add(value)
                    clean_items.add((key, value))
                    continue
                if vtype is str and self._short_cut:
                    length = len(value)
                    if length == 36 and _uuid_shaped(value):
                        clean_values.add(value)  # a run or request id: clean, and may repeat
                        continue
                    if length < _SHORTEST_TOKEN and _no_short_secret(value):  # (not in the text cache)
                        clean_values.add(value)
                        clean_items.add((key, value))
                        continue
            elif kind is _URL and type(value) is str and url_cache.get(value) is _CLEAN:
                # A URL seen clean before (an HTTP client's url.full repeats from span to span): the
                # pair is trusted from now on, so such a span can take the known-clean path.
                _remember_clean(url_pairs, (key, value))
                continue
            new = self._value(kind, value, tally, 0)
            if new is not value or type(kind) is _DirtyKey:
                out = _replaced(out, items, key, kind, new, tally)
                if exhausted():
                    _cut_rest(out, todo, tally)
                    break
        if len(clean_values) > _CACHE_SIZE or len(plain_keys) > _CACHE_SIZE or len(clean_items) > _CACHE_SIZE:
            self._forget_clean()  # bounded: start again rather than grow without limit
        return attributes if out is None else out

    def _note_generated_id(self, value: str) -> None:
        """Remember a UUID that botanu itself generated (a run id) as clean.

        Every span of a run carries its id; without this, the first of them to end pays
        for learning it. Ignored when user patterns or PII rules are on: those may
        deliberately match UUIDs. Only for ids botanu made itself (UUIDv7 strings):
        nothing here checks the value's shape.
        """
        if self._short_cut:
            self._learn_clean(value)

    def _known_clean(self, items: Mapping[str, Any]) -> bool:
        """True when every key is a known plain key and every value is known clean.

        Two C-level set checks, the fastest path: typical spans repeat both. Values new to the
        clean set (a fresh run id, a model call's response id, token counts) are judged one by
        one by :meth:`_fresh_clean`. False means "look closer", not "dirty"; an unhashable
        value gives False too.
        """
        try:
            if not self._plain_keys.issuperset(items):
                return bool(self._url_pairs) and self._known_clean_pairs(items)
            values = items.values()
            clean_values = self._clean_values
            if clean_values.issuperset(values):
                return True
            if not self._short_cut:
                return False
            # Every key is plain, so each value is judged alone: the few not seen before (an id, a
            # token count) are judged by their shape, as the full walk would judge them.
            fresh = filterfalse(clean_values.__contains__, values)
            first = next(fresh)
            if type(first) is str and len(first) == 36 and _uuid_shaped(first):
                # The usual one, first: a run's id (learnt: it repeats across the run's spans).
                self._learn_clean(first)
                if clean_values.issuperset(values):
                    return True
            elif not self._fresh_clean(first):
                return False
            return all(map(self._fresh_clean, fresh))
        except TypeError:  # an unhashable value (a list or dict attribute)
            return False

    def _learn_clean(self, value: Any) -> None:
        """Add a value judged clean under a plain key to the clean set (bounded)."""
        if len(self._clean_values) >= _CACHE_SIZE:
            self._forget_clean()
        self._clean_values.add(value)

    def _forget_clean(self) -> None:
        # Bounded (every run brings a new id). All three caches go together: clearing only the
        # values would leave the known (key, value) pairs unable to teach the values again.
        self._clean_values.clear()
        self._plain_keys.clear()
        self._clean_items.clear()

    def _fresh_clean(self, value: Any) -> bool:
        """True when a value under a plain key, not in the clean set, is clean all the same: one that
        cannot hold a secret, a UUID (learnt: run ids repeat), text seen clean, or an opaque id
        (``chatcmpl-...``, ``msg_...``: new on every model call) in which the scanner finds nothing
        (learnt when it repeats). False means "take the full walk", not "dirty"."""
        vtype = type(value)
        if vtype is str:
            length = len(value)
            if length < _SHORTEST_TOKEN:
                return length < MIN_SCAN_LEN or _no_short_secret(value)
            if (length == 36 and _uuid_shaped(value)) or self._text_cache.get(value) is _CLEAN:
                # Learnt: run ids repeat across the spans of a run, and text in the text cache
                # is text that repeats.
                self._learn_clean(value)
                return True
            if length > _ID_MAX_LEN or _id_shaped(value) is None:
                return False
            # An id seen clean once is learnt at its second sighting (a stream's or a session's id
            # repeats); until then it is kept in a set of its own, so that ids that never repeat (a
            # model call's response id) neither enter the clean set nor push repeating text out.
            seen = self._ids_seen_clean
            if value in seen:
                seen.discard(value)
                self._learn_clean(value)
                return True
            if self._scanner.findings(value):  # a short id costs less to scan than to walk past
                return False
            _remember_clean(seen, value)
            return True
        if vtype is bool or vtype is float or value is None:
            return True
        if vtype is int:
            return -1_000_000_000_000 < value < 1_000_000_000_000
        return vtype is tuple and _clean_tuple(value, self._text_cache, True)

    def _known_clean_pairs(self, items: Mapping[str, Any]) -> bool:
        """With URL keys: each pair known clean, a URL pair seen clean twice, or a clean plain value."""
        url_pairs = self._url_pairs
        rest = items.items() - self._clean_items  # (TypeError for an unhashable value: the caller's)
        plain_keys = self._plain_keys
        clean_values = self._clean_values
        return all(
            (key in plain_keys and value in clean_values) or (key, value) in url_pairs for key, value in rest
        )

    def _attributes_with_callback(self, attributes: Any, items: Mapping[str, Any], tally: Tally) -> Any:
        def redact(key: Any, value: Any, kind: Any) -> Any:
            return self._with_callback(key, value, kind, tally)

        out = self._map_items(items, tally, redact)
        return attributes if out is None else out

    def _map_items(
        self, items: Mapping[Any, Any], tally: Tally, redact: Callable[[Any, Any, Any], Any]
    ) -> dict[Any, Any] | None:
        """Apply ``redact(key, value, kind)`` to every entry; a new dict if anything changed, else None."""
        out: dict[Any, Any] | None = None
        entries = iter(items.items())
        for key, value in entries:
            kind = self._kind(key) if isinstance(key, str) else _PLAIN
            new = redact(key, value, kind)
            if new is not value or type(kind) is _DirtyKey:
                out = _replaced(out, items, key, kind, new, tally)
                if exhausted():
                    _cut_rest(out, entries, tally)
                    break
        return out

    def _special(self, key: str, value: Any, tally: Tally) -> Any:
        """Redact a span name, event name, status description or log body (scanned as text)."""
        if self.callback is None:
            if type(value) is str:
                return self._text(value, tally)
            return self._value(_PLAIN, value, tally, 0)
        return self._with_callback(key, value, _PLAIN, tally)

    def _span_name(self, name: Any, tally: Tally) -> Any:
        """A span name, scanned as text; a clean one is remembered, since names repeat span after span.

        (Short words are judged clean without a scan or a cache slot; as a span's name they earn
        one, so that the span can take the processor's known-clean path.)
        """
        new = self._special("<span.name>", name, tally)
        if new is name and self.callback is None and type(name) is str and len(name) <= _CACHEABLE_LEN:
            _remember(self._text_cache, name, _CLEAN)
        return new

    def _attribute(self, key: str, value: Any, tally: Tally) -> Any:
        kind = self._kind(key) if isinstance(key, str) else _PLAIN
        if self.callback is None:
            return self._value(kind, value, tally, 0)
        return self._with_callback(key, value, kind, tally)

    def _with_callback(self, key: str, value: Any, kind: object, tally: Tally) -> Any:
        local: Tally = []
        redacted = self._value(kind.inner if type(kind) is _DirtyKey else kind, value, local, 0)
        try:
            final = self.callback(key, value, redacted)  # type: ignore[misc]
        except Exception as error:
            warn_once(
                ("redaction", "callback-raised"),
                "botanu: the redaction callback raised %s; the redacted value was kept",
                type(error).__name__,
            )
            final = redacted
        else:
            if not _valid_attribute_value(final):
                warn_once(
                    ("redaction", "callback-invalid"),
                    "botanu: the redaction callback returned a %s, which is not a valid attribute value; "
                    "the redacted value was kept",
                    type(final).__name__,
                )
                final = redacted
        if final is redacted:
            tally.extend(local)
        elif final is value or _same(final, value):
            final = value  # the callback restored the original: nothing was redacted
        else:
            tally.append(("callback",))
        return final

    # ------------------------------------------------------------------ key decisions

    def _kind(self, key: str) -> object:
        """The cached decision for a key: a rule name (secret by name), GENERIC, or a _Kind."""
        kind = self._key_cache.get(key)
        if kind is not None:
            return kind
        if not isinstance(key, str):
            return _PLAIN  # the SDK only allows str keys; be lenient with direct API use
        if not allows(self.pii, 0, SCAN_NS + len(key) * _CLASSIFY_NS_PER_CHAR):
            # No time left to classify it (its text is credited when it is scanned below): its
            # value is replaced unscanned, and so is the key itself if it could hold a secret.
            if len(key) < MIN_SCAN_LEN:
                return SCAN_LIMIT
            return _DirtyKey(unscanned(len(key)), [(SCAN_LIMIT,)], SCAN_LIMIT)
        rule = self._keys.classify(key)
        if rule is not None:
            kind = rule
        elif key in URL_KEYS:
            kind = _URL
        elif key in QUERY_KEYS:
            kind = _QUERY
        else:
            kind = _PLAIN
        if len(key) >= MIN_SCAN_LEN:
            key_tally: Tally = []
            new_key = self._text(key, key_tally)
            if new_key is not key:
                kind = _DirtyKey(new_key, key_tally, kind)
                if _cut(key_tally):
                    return kind  # not remembered: a later item may have the time to scan it
        _remember(self._key_cache, key, kind)
        if kind is _PLAIN:
            _remember_clean(self._plain_keys, key)
        return kind

    def _rule_for_key(self, key: str) -> str | None:
        """Key classification for the free-text detectors (``password=...`` inside a string)."""
        rule = self._rule_cache.get(key)
        if rule is None:
            rule = self._keys.classify(key) or _PLAIN
            _remember(self._rule_cache, key, rule)
        return rule if type(rule) is str else None

    def _param_rule(self, name: str) -> str | None:
        """Rule for a URL query parameter name (cached)."""
        rule = self._param_cache.get(name)
        if rule is None:
            rule = self._keys.is_url_secret_param(name) or _PLAIN
            _remember(self._param_cache, name, rule)
        return rule if type(rule) is str else None

    # ------------------------------------------------------------------ values

    def _value(self, kind: object, value: Any, tally: Tally, depth: int) -> Any:
        if type(kind) is _DirtyKey:
            kind = kind.inner
        if type(kind) is str and kind is not GENERIC:
            return self._whole(value, kind, tally, depth)
        vtype = type(value)
        if vtype is str:
            if kind is _PLAIN:
                return self._text(value, tally)
            if kind is _URL:
                return self._url(value, tally, "url")
            if kind is _QUERY:
                return self._url(value, tally, "query")
            return self._generic(value, tally, depth)
        if vtype is bool or vtype is float or value is None:
            return value
        if vtype is int:
            return self._int(value, tally)
        if depth >= _MAX_DEPTH:
            tally.append(("depth_limit",))
            return TOO_DEEP
        if vtype is tuple or vtype is list:
            return self._sequence(kind, value, tally, depth)
        if vtype is bytes or vtype is bytearray:
            return self._bytes(value, tally)
        if isinstance(value, str):  # a str subclass: scan its plain value, keep the object if clean
            plain = str(value)
            new = self._value(kind, plain, tally, depth)
            return value if new is plain else new
        if isinstance(value, Mapping):
            return self._mapping(value, tally, depth)
        if isinstance(value, Sequence):
            return self._sequence(kind, value, tally, depth)
        if isinstance(value, int):
            return self._int(int(value), tally)
        return value

    def _sequence(self, kind: object, value: Sequence[Any], tally: Tally, depth: int) -> Any:
        out: list[Any] | None = None
        for index, item in enumerate(value):
            new = self._value(kind, item, tally, depth + 1)
            if new is not item:
                if out is None:
                    out = list(value)
                out[index] = new
                if exhausted() and index + 1 < len(out):  # the rest goes unread, in one piece
                    out[index + 1 :] = (unscanned_rest(len(out) - index - 1),)
                    tally.append((SCAN_LIMIT,))
                    break
        return value if out is None else tuple(out)

    def _mapping(self, value: Mapping[Any, Any], tally: Tally, depth: int) -> Any:
        def redact(_key: Any, item: Any, kind: Any) -> Any:
            return self._value(kind, item, tally, depth + 1)

        out = self._map_items(value, tally, redact)
        return value if out is None else out

    def _generic(self, value: str, tally: Tally, depth: int) -> Any:
        """A value under a GENERIC key ("signature", "key"): secret if it looks random, else text."""
        if len(value) < _RANDOM_MIN_LEN:
            return self._text(value, tally)
        if not allows(self.pii, len(value), len(value) * _SHAPE_NS_PER_CHAR):
            return _unscanned_value(value, tally)
        with item_budget(self.pii).credited():
            if looks_random(value, _RANDOM_MIN_LEN):
                return self._whole(value, "key_value", tally, depth)
            return self._text(value, tally)

    def _int(self, value: int, tally: Tally) -> Any:
        # Card numbers stored as integers (13 to 19 digits).
        if 10**12 <= abs(value) < 10**19 and is_card_number(str(abs(value))):
            tally.append(("credit_card",))
            return self._replacer.replace(str(value))
        return value

    def _bytes(self, value: bytes | bytearray, tally: Tally) -> Any:
        if len(value) < MIN_SCAN_LEN:
            return value
        try:
            text, codec = bytes(value).decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            # Binary data: latin-1 maps every byte to one character, so ASCII secrets are still found.
            text, codec = bytes(value).decode("latin-1"), "latin-1"
        new = self._text(text, tally)
        if new is text:
            return value
        return new.encode(codec, errors="replace")

    def _whole(self, value: Any, rule: str, tally: Tally, depth: int) -> Any:
        """Replace a value that is secret because of its key, keeping its shape."""
        if value is None or type(value) is bool:
            return value
        if rule is SCAN_LIMIT:
            return _unscanned_value(value, tally)
        if isinstance(value, str):
            if not value or is_placeholder(value):
                return value
            tally.append((rule,))
            replacement = self._whole_cache.get(value)
            if replacement is None:
                # A value of a recognised format keeps its public hint and length; anything else
                # under a secret key may be human-chosen, so its length is not shown either.
                hint = self._hint(value)
                replacement = self._replacer.replace(value, hint or "", bool(hint))
                if len(value) <= _CACHEABLE_LEN and hint is not None:
                    _remember(self._whole_cache, value, replacement)
            return replacement
        if isinstance(value, (bytes, bytearray)):
            if not value:
                return value
            tally.append((rule,))
            return self._replacer.replace(bytes(value).decode("latin-1"), length=False)
        if isinstance(value, (int, float)):
            tally.append((rule,))
            return self._replacer.replace(str(value), length=False)
        if depth >= _MAX_DEPTH:
            tally.append(("depth_limit",))
            return TOO_DEEP
        if isinstance(value, Mapping):
            return {k: self._whole(v, rule, tally, depth + 1) for k, v in value.items()}
        if isinstance(value, Sequence):
            return tuple(self._whole(v, rule, tally, depth + 1) for v in value)
        tally.append((rule,))
        return self._replacer.replace(str(value), length=False)

    def _hint(self, value: str) -> str | None:
        """A public prefix for a whole secret value, only if a detector recognises the whole value.

        None when the item's budget could not pay for looking (the value goes without a hint).
        """
        if self.mode != "mask" or len(value) < 8 or len(value) > _CHUNK:
            return ""  # (no known token format is longer than a chunk; a long value gets no hint)
        if not allows(self.pii, len(value), optional=True):
            return None
        for start, end, _rule, hint in self._scanner.findings(value):
            if start == 0 and end == len(value) and hint:
                return hint
        return ""

    # ------------------------------------------------------------------ strings

    def _text(self, text: str, tally: Tally) -> str:
        """Scan free text (cached for short strings)."""
        length = len(text)
        if length < MIN_SCAN_LEN:
            return text
        if self._short_cut and (
            (length < _SHORTEST_TOKEN and _no_short_secret(text)) or (length == 36 and _uuid_shaped(text))
        ):
            # Ids, words, numbers, and the most common unique value in telemetry: cheaper to check
            # than to look up, not worth a cache slot, and never scanned, so they do not draw on
            # the scan budget (about 0.6 us each, as much as walking past a cached value).
            return text
        return self._through_cache(self._text_cache, text, length <= _CACHEABLE_LEN, tally, "text")

    def _through_cache(
        self, cache: dict[str, object], text: str, cacheable: bool, tally: Tally, shape: str
    ) -> str:
        """``_scan(text, tally, shape)``, with its result (and the regions it tallied) kept in ``cache``."""
        if cacheable:
            hit = cache.get(text)
            if hit is not None:
                if hit is _CLEAN:
                    return text
                new, regions = hit  # type: ignore[misc]
                tally.extend(regions)
                return new
        local: Tally = []
        new = self._scan(text, local, shape)
        if cacheable and not (local and _cut(local)):  # a later item may have the time to scan it
            _remember(cache, text, _CLEAN if new is text else (new, tuple(local)))
        tally.extend(local)
        return new

    def _scan(self, text: str, tally: Tally, shape: str) -> str:
        """``text`` with its findings replaced, within its item's budget (else replaced unscanned)."""
        length = len(text)
        if shape == "text" and length <= _STRUCTURAL_JSON_LEN:
            first = text[0]
            if first == "{" or first == "[" or (first.isspace() and text.lstrip()[:1] in ("{", "[")):
                result = self._json(text, tally)
                if result is not None:
                    return result
        if length > _FIRST_CHUNK:
            findings = self._bounded_findings(text, shape)
        elif allows(self.pii, length):
            findings = self._scanner.findings(text, shape)
        else:
            tally.append((SCAN_LIMIT,))
            return unscanned(length)
        return render(text, findings, self._replacer, tally) if findings else text

    def _bounded_findings(self, text: str, shape: str) -> list[Finding]:
        """Findings for a long string, scanned in chunks as long as its item's budget allows.

        A few detectors cost a few microseconds per candidate (a digit group, a ``k=v`` pair), so
        a long string made of nothing but candidates (an echoed body, a printed array) would cost
        seconds per MB on the application thread. Here the string is scanned in ~4 KB chunks,
        each with some context on both sides (a secret may straddle a cut), and each credited to
        and checked against the item's budget before it is scanned: the first at the worst-case
        cost, the next ones at the average cost per character of the string so far (input of one
        kind costs about the same chunk after chunk; the average, not the last chunk, so that a
        first chunk slowed by cold caches does not count twice). Once a chunk would not fit, the
        rest of the string is replaced unscanned (rule ``scan_limit``): it fails closed. Ordinary
        text (stack traces, JSON, prose) costs 20 to 60 ns per character and is scanned whole;
        text with a URL on every line (an access log) costs about 100 and may be cut.

        ``shape`` "url"/"query" long values are scanned as text.
        """
        length = len(text)
        findings: list[Finding] = []
        scanner = self._scanner
        started = cpu_ns()
        start = 0
        if shape == "query" and text[:1] != "?":
            # A bare query (url.query) gets the URL rules for its first chunk through a "?".
            text = "?" + text
            length += 1
            start = 1
        begin = start
        while start < length:
            size = _FIRST_CHUNK if start == begin else _CHUNK
            end = start + size
            if end >= length:
                end = length
            else:
                newline = text.rfind("\n", start + size // 2, end)
                if newline >= 0:
                    end = newline + 1  # cut at a line end where one is near
            window_start = max(0, start - _CONTEXT_BEFORE)
            window_end = min(length, end + _CONTEXT_AFTER)
            if start == begin:
                fits = allows(self.pii, end - start, worst_cost(window_end - window_start))
            else:
                average = (cpu_ns() - started) / (start - begin)
                fits = allows(self.pii, end - start, int(average * (window_end - window_start)), exact=True)
            if not fits:
                findings.append((start, length, SCAN_LIMIT, ""))
                break
            resume = end
            for f_start, f_end, rule, hint in scanner.findings(text[window_start:window_end]):
                f_start += window_start
                if f_start < start or f_start >= end:
                    continue  # the neighbouring chunk's (its window saw it with more context)
                f_end += window_start
                if f_end >= window_end and window_end < length:
                    # Runs into the window's edge: its real end is unknown, so it goes on to the
                    # end of the line (failing closed).
                    newline = text.find("\n", f_end)
                    f_end = length if newline < 0 else newline
                    resume = max(resume, f_end)
                findings.append((f_start, f_end, rule, hint))
            start = resume
        if begin:  # undo the "?" added in front of a bare query
            findings = [(max(0, a - 1), b - 1, rule, hint) for a, b, rule, hint in findings if b > 1]
        return findings

    def _url(self, text: str, tally: Tally, shape: str) -> str:
        if len(text) < MIN_SCAN_LEN:
            return text

        cacheable = len(text) <= _CACHEABLE_LEN and shape == "url"
        return self._through_cache(self._url_cache, text, cacheable, tally, shape)

    def _json(self, text: str, tally: Tally) -> str | None:
        """Structural redaction of a JSON document (None if ``text`` is not JSON)."""
        stripped = text.strip()
        if stripped[-1:] not in ("}", "]"):
            return None
        try:
            data = json.loads(stripped)  # (in C, and at most _STRUCTURAL_JSON_LEN characters)
        except (ValueError, RecursionError):
            return None
        if not allows(self.pii, len(text), len(text) * _JSON_NS_PER_CHAR):
            tally.append((SCAN_LIMIT,))
            return unscanned(len(text))
        local: Tally = []
        with item_budget(self.pii).credited():  # (its strings are part of the text credited just now)
            new = self._value(_PLAIN, data, local, 0)
        if new is data:
            return text
        tally.extend(local)
        compact = ", " not in stripped and ": " not in stripped
        return json.dumps(
            new, ensure_ascii=False, separators=(",", ":") if compact else None, default=str, allow_nan=True
        )


# ---------------------------------------------------------------------- helpers


# Every built-in token format is at least this long; shorter strings can only hold a secret
# through an assignment (":" / "="), a URL (":"), an auth scheme (" ") or a card number.
_SHORTEST_TOKEN = 16


def _no_short_secret(text: str) -> bool:
    if ":" in text or "=" in text or " " in text:
        return False
    if text[0] in "{[" or text[0].isspace():
        return False  # may be JSON, which may hold a card number as a number: [4111111111111]
    return len(text) < 13 or not text.replace("-", "").isdigit()


# 8-4-4-4-12 ASCII letters and digits: too short a run for any token, too few digits in a row
# for a card number. A compiled fullmatch is about twice as fast as checking by hand.
_uuid_shaped = re.compile(
    r"[0-9A-Za-z]{8}-[0-9A-Za-z]{4}-[0-9A-Za-z]{4}-[0-9A-Za-z]{4}-[0-9A-Za-z]{12}"
).fullmatch

# An opaque id: words of ASCII letters and digits joined by "-", "_" or "." (no spaces, no "=" or
# ":" of an assignment, no URL, no JSON). Such a value can still be a token (sk-..., ghp_...,
# eyJ....): the scanner decides; the shape only says that scanning it alone is the whole check.
_ID_MAX_LEN = 128
_id_shaped = re.compile(r"[0-9A-Za-z]+(?:[-_.][0-9A-Za-z]+)*").fullmatch


def _clean_tuple(value: tuple[Any, ...], text_cache: Mapping[str, Any], short_cut: bool) -> bool:
    """A short tuple of words that cannot hold a secret (as :meth:`Redactor._text` judges them) or
    were seen clean, bools and small ints (no floats: 4111111111111111.0 == 4111111111111111)."""
    if len(value) > _CLEAN_TUPLE_LEN:
        return False
    for element in value:
        kind = type(element)
        if kind is str:
            length = len(element)
            if not (
                length < MIN_SCAN_LEN
                or (short_cut and length < _SHORTEST_TOKEN and _no_short_secret(element))
                or text_cache.get(element) is _CLEAN
            ):
                return False
        elif kind is not bool and not (kind is int and -1_000_000_000_000 < element < 1_000_000_000_000):
            return False
    return True


def plain_dict(mapping: Mapping[str, Any]) -> dict[str, Any]:
    """A dict with the same items, made at C speed when the mapping offers ``copy()``."""
    copy = getattr(mapping, "copy", None)
    if copy is not None:
        result = copy()
        if type(result) is dict:
            return result
    return dict(mapping)


def _cut(tally: Tally) -> bool:
    """Whether ``tally`` records text left unscanned (such a result must not be cached)."""
    return any(SCAN_LIMIT in rules for rules in tally)


def _cut_rest(out: dict[Any, Any], rest: Iterator[tuple[Any, Any]], tally: Tally) -> None:
    """The item's budget ran out: the entries not yet redacted are dropped, in one piece.

    (Replacing them one by one would cost about a microsecond each: too much for many small ones.)
    """
    count = 0
    for key, _value in rest:
        out.pop(key, None)
        count += 1
    if count:
        out[NOT_SCANNED] = unscanned_rest(count)
        tally.append((SCAN_LIMIT,))


def _unscanned_value(value: Any, tally: Tally) -> Any:
    """Fail closed: the replacement for a value whose key could not be classified in time."""
    if isinstance(value, (str, bytes, bytearray)):
        if not value:
            return value
        tally.append((SCAN_LIMIT,))
        return unscanned(len(value))
    tally.append((SCAN_LIMIT,))
    return NOT_SCANNED  # a number or a container: its key may have made it secret


def _remember_clean(known: set[Any], value: Any) -> None:
    if len(known) >= _CACHE_SIZE:
        known.clear()
    known.add(value)


def _remember(cache: dict[Any, Any], key: Any, value: Any) -> None:
    """Store in a bounded cache: when full, start again (cheaper than LRU bookkeeping on the hot path)."""
    if len(cache) >= _CACHE_SIZE:
        cache.clear()
    cache[key] = value


def rule_names(tally: Tally) -> tuple[str, ...]:
    """Sorted, de-duplicated rule names of a tally."""
    return tuple(sorted({rule for rules in tally for rule in rules}))


def with_audit(attributes: Any, tally: Tally) -> dict[str, Any]:
    """Attributes plus ``botanu.redaction.count`` / ``botanu.redaction.rules``."""
    out = dict(attributes or {})
    out["botanu.redaction.count"] = len(tally)
    out["botanu.redaction.rules"] = rule_names(tally)
    return out


def _strings(values: Iterable[str], what: str) -> list[str]:
    if isinstance(values, str):
        values = [values]
    out = []
    for value in values or ():
        if isinstance(value, str):
            out.append(value)
        else:
            misuse("redaction %s entries must be strings; ignoring %r", what, type(value).__name__)
    return out


def _compile_patterns(patterns: Iterable[str | re.Pattern[str]]) -> list[re.Pattern[str]]:
    if isinstance(patterns, (str, re.Pattern)):
        patterns = [patterns]
    compiled = []
    for index, pattern in enumerate(patterns or (), 1):
        if isinstance(pattern, re.Pattern):
            compiled.append(pattern)
            continue
        if not isinstance(pattern, str) or not pattern:
            misuse("redaction pattern #%d is not a non-empty string; skipped", index)
            continue
        try:
            compiled.append(re.compile(pattern))
        except re.error as error:
            misuse("redaction pattern #%d is not a valid regular expression (%s); skipped", index, error)
    return compiled


_SCALARS = (str, bool, int, float, bytes)


def _valid_attribute_value(value: Any, depth: int = 0) -> bool:
    """What the callback returns must be exportable (and inspecting it must not raise)."""
    try:
        if value is None or isinstance(value, _SCALARS):
            return True
        if depth > _MAX_DEPTH:
            return False
        if isinstance(value, Mapping):
            return all(isinstance(k, str) and _valid_attribute_value(v, depth + 1) for k, v in value.items())
        if isinstance(value, Sequence):
            return all(_valid_attribute_value(v, depth + 1) for v in value)
    except Exception:
        return False
    return False


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(type(a) is type(b) and a == b)
    except Exception:
        return False


def without_secrets(text: str) -> str:
    """``text`` (a URL, a message) with secrets removed, for botanu's own messages and output.

    Never raises: if redaction itself fails, everything from the first ``?`` on is cut,
    since a URL's secrets sit in its query far more often than anywhere else.
    """
    try:
        return Redactor(mode="remove").redact_text(text)
    except Exception:
        return text.split("?", 1)[0]

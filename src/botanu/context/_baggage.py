"""The ``botanu.*`` entries of a context's baggage, as span attributes (cached by identity).

Baggage maps are immutable and shared by every context derived without changing
them, so the view of the last map seen is kept: the common case (many spans
under one run or step) costs one identity check.
"""

from __future__ import annotations

from opentelemetry.context import Context

from botanu.context._keys import RUN_BAGGAGE_KEYS
from botanu.context._tracing import _BAGGAGE_CONTEXT_KEY as _BAGGAGE_KEY
from botanu.context._tracing import baggage_map

Entries = tuple[tuple[str, str], ...]

_PREFIX = "botanu."
_USER_ID = "botanu.user_id"
# The OTel semantic convention for the end user, stamped alongside botanu.user_id.
_ENDUSER_ID = "enduser.id"

_NONE: dict[str, str] = {}
# (the baggage map it was read from, all entries, the non-identity ones, all entries as a dict)
_Cached = tuple[object, Entries, Entries, dict[str, str]]
_NO_ENTRIES: _Cached = (None, (), (), _NONE)
_last: _Cached = _NO_ENTRIES


def botanu_entries(ctx: Context) -> tuple[Entries, Entries]:
    """Return (every ``botanu.*`` entry of ``ctx``'s baggage, those that are not run identity).

    Both include ``enduser.id`` when ``botanu.user_id`` is present. The second set is what
    botanu's own run and step spans need besides the identity they set themselves
    (session and analytics ids, for example).
    """
    cached = _cached(ctx)
    return cached[1], cached[2]


def botanu_attributes(ctx: Context) -> dict[str, str]:
    """Every ``botanu.*`` entry of ``ctx``'s baggage (and ``enduser.id``) as one shared dict.

    Keys and values are text, keys never empty. The dict is shared by every caller for the
    same baggage: read it, never change it.
    """
    if _BAGGAGE_KEY is not None and not ctx.get(_BAGGAGE_KEY):
        return _NONE  # no baggage at all, the common case outside runs: checked first, inline
    return _cached(ctx)[3]


def _cached(ctx: Context) -> _Cached:
    global _last
    current = baggage_map(ctx)
    cached = _last
    if cached[0] is current:
        return cached
    if not current:
        return _NO_ENTRIES
    entries = tuple(
        (key, value if isinstance(value, str) else str(value))
        for key, value in current.items()
        if key.startswith(_PREFIX)
    )
    user = next((value for key, value in entries if key == _USER_ID), None)
    if user is not None:
        entries = (*entries, (_ENDUSER_ID, user))
    extra = tuple(item for item in entries if item[0] not in RUN_BAGGAGE_KEYS)
    _last = cached = (current, entries, extra, dict(entries))  # one assignment: safe across threads
    return cached

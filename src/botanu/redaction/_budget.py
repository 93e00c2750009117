"""The scan budget of one item: what bounds redaction's cost per span and per log record.

Redaction runs inside ``span.end()`` on the application's thread. A few detectors cost a few
microseconds per candidate (a digit group, a ``k=v`` pair), so text made of nothing but
candidates costs 1.5 s per MB or more, whether it comes as one long string or as thousands of
short ones (attributes, list items, event attributes, the values of a log body). So the cost is
bounded per *item* (a span, a log record, one call of the public API), whatever its shape:

* its allowance is ``FLOOR_NS`` plus ``NS_PER_CHAR`` per character of its text scanned so far
  (twice that with the opt-in PII detectors, which cost twice as much on any text), each string
  counting for at least ``VALUE_NS`` (up to ``VALUES_CAP_NS`` in all), against the thread's CPU
  time since its first scan (CPU time, so that waiting for the GIL behind other threads is not
  counted; nor are garbage collections that happen to run meanwhile, see ``cpu_ns``);
* before each scan (a string, a chunk of a long one, a key never seen before, a JSON document's
  walk, the shape of a value under a generic key) :func:`allows` credits the text and compares
  the time spent plus the scan's expected cost with the allowance. A scan that would not fit is
  refused, its text replaced unscanned (rule ``scan_limit``): it fails closed, nothing is
  exported unscanned. The budget is then exhausted: every later scan of the item is refused too,
  and the rest of a list or mapping being walked is replaced in one piece.

Ordinary text costs 20 to 60 ns per character and is not cut. Values known clean from the caches
are never scanned and never touch the budget, so ordinary spans, whose values repeat, pay nothing
for it; and an item's budget is only started (the clock read) once its scans could cost more than
``EARLY_NS``: an item with a new value or two pays a few additions.
"""

from __future__ import annotations

import functools
import gc
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

# The allowance: 90 ms of the thread's CPU time per million characters (the target is at most 100
# ms per MB; the margin covers the work after the last check: the span's copy, the audit), plus
# 5 ms for one-off work (the first chunk of a long string, scanned before its cost is known).
NS_PER_CHAR = 90
FLOOR_NS = 5_000_000
# And at least 20 us per string scanned, for its fixed cost, up to 15 ms more per item: a string
# new to the caches costs 4 to 15 us however short (a URL of 50 characters: about 15), which its
# characters alone do not earn: without this, an ordinary span with a thousand new values (128
# attributes and 128 events of 8, the SDK's default limits) would be cut.
VALUE_NS = 20_000
VALUES_CAP_NS = 15_000_000

# The expected cost of scanning a short string (up to 1 KB), taken as the worst seen: text made
# only of card-like digit groups costs about 1.4 us per character (1.75 with PII detection). The
# floor is twice the cost of 1 KB at this rate: ordinary text always has room for its strings.
WORST_NS_PER_CHAR = 2_000
SCAN_NS = 5_000  # plus the fixed part of one scan (or of classifying a new key)
# The first scans of an item, up to this much at their worst-case cost (a part of the floor), are
# allowed without starting its budget (see allows).
EARLY_NS = 1_000_000


def worst_cost(chars: int) -> int:
    """The most scanning ``chars`` characters in one piece should cost, in ns."""
    return SCAN_NS + chars * WORST_NS_PER_CHAR


class Budget:
    """The scan budget of one item on one thread (see the module docstring).

    Reading the thread's CPU clock costs about a third of a microsecond, as much as scanning a
    short string, so it is read only when it matters: ``measured`` is the time spent at the last
    reading (a lower bound of the time spent now) and ``charged`` that plus the expected cost of
    each scan allowed since (about an upper bound). A scan is allowed without a reading while
    ``charged`` leaves room for it, refused without one once ``measured`` does not. After the
    first refusal it is ``exhausted`` (the rest of a list or mapping is then replaced in one
    piece: walking on, value by value, would cost about a microsecond a value even to replace).
    """

    __slots__ = (
        "allowance", "charged", "exhausted", "measured", "per_string", "precredited", "rate", "started",
    )  # fmt: skip

    def __init__(self, pii: bool) -> None:
        self.rate = NS_PER_CHAR * 2 if pii else NS_PER_CHAR
        self.started = cpu_ns()
        self.allowance = FLOOR_NS
        self.per_string = 0  # the part of the allowance earned by VALUE_NS
        self.measured = 0
        self.charged = 0
        self.exhausted = False
        self.precredited = 0  # > 0 inside credited()

    def credited(self) -> _Credited:
        """``with budget.credited():`` around the work on text whose characters were credited
        already (the strings of a JSON document, a value judged by its shape first), so that
        they are not credited twice."""
        return _Credited(self)

    def read(self) -> int:
        """The CPU time the item has spent so far."""
        self.measured = self.charged = cpu_ns() - self.started
        return self.measured


class _Credited:
    __slots__ = ("budget",)

    def __init__(self, budget: Budget) -> None:
        self.budget = budget

    def __enter__(self) -> None:
        self.budget.precredited += 1

    def __exit__(self, *exc_info: object) -> None:
        self.budget.precredited -= 1


class _Current(threading.local):
    # The budget of the item being redacted on this thread: the worst-case cost of its scans so
    # far (an int, OPEN at first) until it needs a Budget; None when no item is open.
    budget: Any = None
    # CPU time spent in garbage collections during items' redaction, and the start of the one
    # running now (0: none, or one that started outside an item).
    gc_ns = 0
    gc_started = 0


CURRENT = _Current()
OPEN = 0


def cpu_ns() -> int:
    """This thread's CPU time, less what garbage collections took during redaction.

    A full collection of a big heap takes tens of milliseconds, whenever it happens to run:
    counted against the item being redacted at the time, it would cut an ordinary span.
    """
    return time.thread_time_ns() - CURRENT.gc_ns


def _collecting(phase: str, info: dict[str, int]) -> None:
    """A gc callback that times collections, only while an item's budget is running."""
    current = CURRENT
    if phase == "start":
        current.gc_started = time.thread_time_ns() if type(current.budget) is Budget else 0
    elif current.gc_started:
        current.gc_ns += time.thread_time_ns() - current.gc_started
        current.gc_started = 0


gc.callbacks.append(_collecting)

F = TypeVar("F", bound=Callable[..., Any])


def one_item(function: F) -> F:
    """Decorator: a call of ``function`` redacts one item, with one budget for all of its scans.

    Nested calls (a redaction callback that calls the public API) get a budget of their own and
    give the outer one back when they return; the outer one still counts their CPU time.
    """

    @functools.wraps(function)
    def item(*args: Any, **kwargs: Any) -> Any:
        current = CURRENT
        outer = current.budget
        current.budget = OPEN  # started lazily: a call that scans nothing costs nothing more
        try:
            return function(*args, **kwargs)
        finally:
            current.budget = outer

    return item  # type: ignore[return-value]


def allows(pii: bool, chars: int, cost: int = -1, exact: bool = False, optional: bool = False) -> bool:
    """May a scan of ``chars`` more characters of this thread's item run, expected to cost ``cost``
    ns (by default: the worst case for a short string of that length)?

    If so, the characters are credited to the item's allowance. ``exact`` reads the clock in any
    case (for an expected cost that is an average, not a worst case); an ``optional`` scan (a
    mask's hint) that does not fit is skipped without exhausting the budget. One function, not
    a method of a budget fetched first: this runs for every string scanned.
    """
    if cost < 0:
        cost = SCAN_NS + chars * WORST_NS_PER_CHAR
    current = CURRENT
    budget = current.budget
    if type(budget) is not Budget:
        if budget is not None and budget + cost <= EARLY_NS:
            # Scans whose worst-case costs add up to no more than EARLY_NS need no budget yet, nor
            # a reading of the clock (a third of a microsecond, as much as this whole check): most
            # items that need a scan at all need a few (a new URL, a new message).
            current.budget = budget + cost
            return True
        budget = item_budget(pii)
    if budget.exhausted:
        return False
    earned = 0 if budget.precredited else chars * budget.rate
    extra = 0
    if earned < VALUE_NS and budget.per_string < VALUES_CAP_NS and not optional:
        extra = VALUE_NS - earned  # (an optional scan is more work on a string already counted)
    allowance = budget.allowance + earned + extra
    room = allowance - cost
    if budget.measured > room or ((exact or budget.charged > room) and budget.read() > room):
        if not optional:
            budget.exhausted = True
        return False
    budget.allowance = allowance
    budget.per_string += extra
    budget.charged += cost
    return True


def exhausted() -> bool:
    """Whether the budget of the item being redacted on this thread has run out."""
    budget = CURRENT.budget
    return type(budget) is Budget and budget.exhausted


def item_budget(pii: bool) -> Budget:
    """The budget of the item being redacted on this thread, started now if it was not yet.

    (Outside an item, which only private calls are, each call is judged as an item of its own.)
    """
    current = CURRENT
    budget = current.budget
    if type(budget) is Budget:
        return budget
    new = Budget(pii)
    if budget is not None:
        # The scans done before, without a budget, are counted at their worst-case cost (their
        # characters are not credited: at most EARLY_NS of the floor goes to them).
        new.started -= budget
        new.measured = new.charged = budget
        current.budget = new
    return new

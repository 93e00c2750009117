"""``session()``: chat / session / user / organization ids for a block of code.

The ids go into W3C baggage under ``botanu.*`` keys, so, like a run's identity,
they are stamped on every span started inside the block (by the enricher), and
follow the work into threads, asyncio tasks and downstream services.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from opentelemetry import baggage, context

from botanu._safety import contained, misuse, user_call_site
from botanu.context._tracing import with_baggage
from botanu.propagation import ensure_rules

SESSION_ID = "botanu.session_id"
CHAT_ID = "botanu.chat_id"
USER_ID = "botanu.user_id"
ORGANIZATION_ID = "botanu.organization_id"
SESSION_KEYS = {
    "session_id": SESSION_ID,
    "chat_id": CHAT_ID,
    "user_id": USER_ID,
    "organization_id": ORGANIZATION_ID,
}

MAX_VALUE_CHARS = 256

_F = TypeVar("_F", bound=Callable[..., Any])
# One module-level variable for every open session in a context: a variable per Session
# would leave an entry in the thread's context for each session ever entered.
_open_sessions: contextvars.ContextVar[tuple[tuple[Session, object], ...]] = contextvars.ContextVar(
    "botanu.open_sessions", default=()
)


class Session:
    """A block of code that belongs to a session / chat / user / organization. Made by :func:`session`.

    Use it as ``with``, ``async with``, or as a decorator of a sync or async
    function. Sessions nest: an inner one overrides only the ids it sets.
    """

    def __init__(self, entries: Mapping[str, str]) -> None:
        self.entries = dict(entries)

    def __enter__(self) -> Session:
        with contained("entering a session"):
            ensure_rules()  # session and user ids are identity: only botanu's propagator may send them
            token = context.attach(with_baggage(context.get_current(), self.entries))
            _open_sessions.set((*_open_sessions.get(), (self, token)))
        return self

    def __exit__(self, *exc_info: object) -> None:
        with contained("leaving a session"):
            stack = _open_sessions.get()
            # The innermost entry of this instance in this context: one instance may be entered
            # by several tasks or threads at once (a decorator, a shared object).
            for index in range(len(stack) - 1, -1, -1):
                if stack[index][0] is self:
                    _open_sessions.set(stack[:index] + stack[index + 1 :])
                    context.detach(stack[index][1])  # type: ignore[arg-type]
                    break

    async def __aenter__(self) -> Session:
        return self.__enter__()

    async def __aexit__(self, *exc_info: object) -> None:
        self.__exit__(*exc_info)

    def __call__(self, fn: _F) -> _F:
        if inspect.isgeneratorfunction(fn) or inspect.isasyncgenfunction(fn) or not callable(fn):
            misuse(
                "session() decorates plain and async functions only, got %r; use 'with botanu.session(...)' "
                "inside it instead",
                fn,
            )
            return fn
        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                async with self:
                    return await fn(*args, **kwargs)

            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with self:
                return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]


def session(
    *,
    session_id: str | None = None,
    chat_id: str | None = None,
    user_id: str | None = None,
    organization_id: str | None = None,
) -> Session:
    """Group the spans of a block of code by session, chat, user and organization.

    Args:
        session_id: An app/browser session that spans many conversations (``botanu.session_id``).
        chat_id: One conversation or thread (``botanu.chat_id``).
        user_id: The end user (``botanu.user_id``; also the default ``distinct_id`` of ``track()``).
        organization_id: The user's organization (``botanu.organization_id``).

    Every span started inside, by botanu or any instrumentation, carries the
    given ids; they propagate like the run context (threads, tasks, services).
    Works as ``with``, ``async with`` and as a decorator. Ids must be strings
    (numbers are converted); a bad one is left out with one warning.
    """
    site = user_call_site()
    given = {
        "session_id": session_id,
        "chat_id": chat_id,
        "user_id": user_id,
        "organization_id": organization_id,
    }
    entries: dict[str, str] = {}
    for name, value in given.items():
        if value is None:
            continue
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str) or not value.strip():
            misuse("session() %s must be a non-empty string, got %r; left out", name, value, site=site)
            continue
        entries[SESSION_KEYS[name]] = value.strip()[:MAX_VALUE_CHARS]
    return Session(entries)


def current_session() -> dict[str, str]:
    """The session ids in effect here: ``session_id``, ``chat_id``, ``user_id``, ``organization_id``."""
    found = baggage.get_all()
    return {name: str(found[key]) for name, key in SESSION_KEYS.items() if key in found}

"""The run context: ``event()``, ``step()``, ``outcome()`` and ``current_run()``.

A *run* is one execution of a business workflow (a support ticket handled, a
checkout completed). ``event()`` opens it as a span ``botanu.run/<workflow>``
and puts its identity in W3C baggage, so every span started inside it, in this
process or in services it calls, can be attributed to the run.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
import math
import numbers
import os
import random
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from opentelemetry import baggage, context, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from botanu._safety import BotanuUsageError, contained, misuse, report_internal, safe_text, valid_text
from botanu.context._baggage import botanu_entries
from botanu.context._ids import uuid7
from botanu.context._keys import (  # noqa: F401 - re-exported: other modules read the names from here
    CUSTOMER_ID,
    ENVIRONMENT,
    EVENT_ID,
    INPUT,
    OUTCOME_CONFIDENCE,
    OUTCOME_METADATA_PREFIX,
    OUTCOME_REASON,
    OUTCOME_STATUS,
    OUTCOME_STATUSES,
    OUTCOME_VALUE_AMOUNT,
    OUTCOME_VALUE_TYPE,
    PARENT_RUN_ID,
    RUN_BAGGAGE_KEYS,
    RUN_ID,
    RUN_SPAN_PREFIX,
    STEP,
    STEP_SPAN_PREFIX,
    TENANT_ID,
    WORKFLOW,
)
from botanu.context._tracing import baggage_map, derive_context, merged_baggage, tracer
from botanu.propagation import ensure_rules

MAX_INPUT_CHARS = 4096
MAX_ID_CHARS = 256

_RUN_KEY = context.create_key("botanu.run")

_F = TypeVar("_F", bound=Callable[..., Any])

# Told each new run id (by the active pipeline: its redactor remembers botanu's own ids as
# clean, so the run's first span to end does not pay for scanning one).
_run_id_listener: Callable[[str], None] | None = None


def set_run_id_listener(listener: Callable[[str], None] | None) -> None:
    global _run_id_listener
    _run_id_listener = listener


# Told just before a run's span ends, with the span and the run id (the LLM stage puts the run's
# call, token and cost totals on it). Steps are not runs and are not told.
_run_end_listener: Callable[[trace.Span, str], None] | None = None


def set_run_end_listener(listener: Callable[[trace.Span, str], None] | None) -> None:
    global _run_end_listener
    _run_end_listener = listener


class _RunState:
    """What a run needs while it is open (mutable, shared by its step contexts)."""

    __slots__ = ("attributes", "auto_outcome", "baggage", "ctx", "extra", "outcome", "owner", "span", "token")

    def __init__(self, span: trace.Span, owner: object, auto_outcome: bool | None) -> None:
        self.span = span
        self.owner = owner
        # None marks a step: steps have no outcome of their own.
        self.auto_outcome = auto_outcome
        # The run's identity attributes, reused for its step spans.
        self.attributes: dict[str, str] = {}
        # The baggage map this scope set, and its non-identity botanu entries: a step directly
        # inside reuses them instead of reading the baggage again.
        self.baggage: object = None
        self.extra: tuple[tuple[str, str], ...] = ()
        # The explicit outcome, applied when the run ends so that the last call wins whole.
        self.outcome: dict[str, Any] | None = None
        self.token: object | None = None
        self.ctx: context.Context | None = None


class RunContext:
    """The identity of the active run, as returned by :func:`current_run` (read-only).

    ``step`` is the innermost active :func:`step` name. In a service that only
    received the run through baggage (no local ``event()``), the ids come from
    the baggage and outcomes cannot be set locally.
    """

    # Plain slots behind read-only properties: several times cheaper to create
    # than a frozen dataclass, and one is created per run and per step.
    __slots__ = (
        "_customer_id",
        "_environment",
        "_event_id",
        "_parent_run_id",
        "_run_id",
        "_state",
        "_step",
        "_tenant_id",
        "_workflow",
    )

    def __init__(
        self,
        run_id: str,
        workflow: str,
        event_id: str | None = None,
        customer_id: str | None = None,
        tenant_id: str | None = None,
        environment: str | None = None,
        parent_run_id: str | None = None,
        step: str | None = None,
        _state: _RunState | None = None,
    ) -> None:
        self._run_id = run_id
        self._workflow = workflow
        self._event_id = event_id
        self._customer_id = customer_id
        self._tenant_id = tenant_id
        self._environment = environment
        self._parent_run_id = parent_run_id
        self._step = step
        self._state = _state

    @property
    def run_id(self) -> str:
        """The run's UUIDv7."""
        return self._run_id

    @property
    def workflow(self) -> str:
        return self._workflow

    @property
    def event_id(self) -> str | None:
        return self._event_id

    @property
    def customer_id(self) -> str | None:
        return self._customer_id

    @property
    def tenant_id(self) -> str | None:
        return self._tenant_id

    @property
    def environment(self) -> str | None:
        return self._environment

    @property
    def parent_run_id(self) -> str | None:
        """The enclosing run's id (local or from inbound baggage), if any."""
        return self._parent_run_id

    @property
    def step(self) -> str | None:
        """The innermost active step, if any."""
        return self._step

    @property
    def is_local(self) -> bool:
        """True when the run was started by ``event()`` in this process."""
        return self._state is not None

    def _fields(self) -> tuple[str | None, ...]:
        return (
            self._run_id,
            self._workflow,
            self._event_id,
            self._customer_id,
            self._tenant_id,
            self._environment,
            self._parent_run_id,
            self._step,
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RunContext) and self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash(self._fields())

    def __repr__(self) -> str:
        names = (
            "run_id",
            "workflow",
            "event_id",
            "customer_id",
            "tenant_id",
            "environment",
            "parent_run_id",
            "step",
        )
        return (
            "RunContext(" + ", ".join(f"{n}={v!r}" for n, v in zip(names, self._fields(), strict=True)) + ")"
        )

    def _with_step(self, step: str) -> RunContext:
        return RunContext(
            self._run_id,
            self._workflow,
            self._event_id,
            self._customer_id,
            self._tenant_id,
            self._environment,
            self._parent_run_id,
            step,
            self._state,
        )


def current_run() -> RunContext | None:
    """Return the active run, or None outside any run.

    Works in threads, thread pools and asyncio tasks started inside the run, and
    in a downstream service that received the run's baggage.
    """
    ctx = context.get_current()
    run = ctx.get(_RUN_KEY)
    if run is not None:
        return run  # type: ignore[no-any-return]
    entries = baggage.get_all(ctx)
    run_id = entries.get(RUN_ID)
    if not run_id:
        return None

    def text(key: str) -> str | None:
        value = entries.get(key)
        return None if value is None else str(value)

    return RunContext(
        run_id=str(run_id),
        workflow=text(WORKFLOW) or "",
        event_id=text(EVENT_ID),
        customer_id=text(CUSTOMER_ID),
        tenant_id=text(TENANT_ID),
        environment=text(ENVIRONMENT),
        parent_run_id=text(PARENT_RUN_ID),
        step=text(STEP),
    )


# --------------------------------------------------------------------------- settings hooks

_UNSET = object()
_default_environment: object = _UNSET
_capture_rate = 0.0


def configure(environment: str | None, content_capture_rate: float) -> None:
    """Called by ``init()`` with the resolved settings that runs depend on (None: read env again)."""
    global _default_environment, _capture_rate
    _default_environment = environment if environment is not None else _UNSET
    _capture_rate = content_capture_rate


def _environment_default() -> str | None:
    global _default_environment
    if _default_environment is _UNSET:
        # Read once: os.environ lookups are too slow for every run.
        _default_environment = (
            os.environ.get("BOTANU_ENVIRONMENT") or os.environ.get("OTEL_DEPLOYMENT_ENVIRONMENT") or None
        )
    return _default_environment  # type: ignore[return-value]


# --------------------------------------------------------------------------- validation


def _check_id(name: str, value: object, site: tuple[str, int] | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return valid_text(str(value)[:MAX_ID_CHARS])
    # Numbers of any kind (numpy's included: they register as numbers.Number) and UUIDs convert.
    if (isinstance(value, numbers.Number) and not isinstance(value, bool)) or hasattr(value, "hex"):
        text = safe_text(int(value) if isinstance(value, numbers.Integral) else value)  # type: ignore[call-overload]
        if text is not None:
            misuse(
                "%s should be a string, got %s; converted with str()", name, type(value).__name__, site=site
            )
            return valid_text(text[:MAX_ID_CHARS])
    misuse("%s must be a string, got %s; the run records no %s", name, type(value).__name__, name, site=site)
    return None


def _call_id(
    name: str, fn: Callable[..., Any], args: tuple, kwargs: dict, site: tuple[str, int]
) -> str | None:
    try:
        value = fn(*args, **kwargs)
    except Exception as error:
        misuse(
            "the %s callable raised %s: %s; the run records no %s",
            name,
            type(error).__name__,
            error,
            name,
            site=site,
        )
        return None
    return _check_id(name, value, site)


def _json_default(value: object) -> object:
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    return f"<{type(value).__name__}>"


@functools.lru_cache(maxsize=512)
def _signature(fn: Callable[..., Any]) -> inspect.Signature | None:
    try:
        return inspect.signature(fn)
    except (TypeError, ValueError):
        return None


def _capture(fn: Callable[..., Any], args: tuple, kwargs: dict) -> str | None:
    with contained("capturing the input"):
        signature = _signature(fn)
        if signature is None:
            arguments: Mapping[str, Any] = {"args": args, "kwargs": kwargs}
        else:
            bound = signature.bind_partial(*args, **kwargs)
            arguments = {k: v for k, v in bound.arguments.items() if k not in ("self", "cls")}
        text = json.dumps(arguments, default=_json_default, ensure_ascii=False)
        if len(text) > MAX_INPUT_CHARS:
            text = text[:MAX_INPUT_CHARS] + "...[truncated]"
        return text
    return None


def _flag(name: str, value: object, default: bool) -> bool:
    """A user's true/false argument; anything else is misuse and gives the default."""
    if isinstance(value, bool):
        return value
    misuse("%s must be True or False, got %r; using %s", name, value, default)
    return default


def _should_capture(capture_input: bool | None) -> bool:
    if capture_input is not None:
        return capture_input is True
    return _capture_rate > 0.0 and random.random() < _capture_rate


# --------------------------------------------------------------------------- start / end


def _start_run(
    owner: object,
    event_id: str | None,
    customer_id: str | None,
    workflow: str,
    environment: str | None,
    tenant_id: str | None,
    auto_outcome: bool,
    span_kind: SpanKind,
    captured_input: str | None = None,
    attach: bool = True,
) -> _RunState:
    ensure_rules()  # identity is about to enter baggage: only botanu's propagator may send it
    parent_ctx = context.get_current()
    parent: RunContext | None = parent_ctx.get(_RUN_KEY)  # type: ignore[assignment]
    inherited, extra = botanu_entries(parent_ctx)
    if parent is not None:
        parent_run_id: str | None = parent.run_id
        tenant_id = tenant_id or parent.tenant_id
        environment = environment or parent.environment
    else:  # a run continued from another service arrives as baggage
        parent_run_id = next((value for key, value in inherited if key == RUN_ID), None)
    environment = environment or _environment_default()
    run_id = uuid7()
    if _run_id_listener is not None:
        _run_id_listener(run_id)

    entries = {RUN_ID: run_id, WORKFLOW: workflow}
    if event_id is not None:
        entries[EVENT_ID] = event_id
    if customer_id is not None:
        entries[CUSTOMER_ID] = customer_id
    if tenant_id is not None:
        entries[TENANT_ID] = tenant_id
    if environment is not None:
        entries[ENVIRONMENT] = environment
    if parent_run_id is not None:
        entries[PARENT_RUN_ID] = parent_run_id
    # Session and analytics ids from the baggage, then the run's own identity.
    attributes: dict[str, Any] = dict(extra)
    attributes.update(entries)
    if captured_input is not None:
        attributes[INPUT] = captured_input
    if auto_outcome:
        # Provisional: attributes are only read when the span ends, and an exception or an
        # explicit outcome() replaces it. Setting it now saves a second attribute update.
        attributes[OUTCOME_STATUS] = "success"

    span = tracer().start_span(
        RUN_SPAN_PREFIX + workflow, context=parent_ctx, kind=span_kind, attributes=attributes
    )
    state = _RunState(span, owner, auto_outcome)
    state.attributes = entries
    state.baggage = merged_baggage(parent_ctx, entries, remove=(STEP,))
    state.extra = extra
    run = RunContext(
        run_id, workflow, event_id, customer_id, tenant_id, environment, parent_run_id, None, state
    )
    state.ctx = derive_context(parent_ctx, span, state.baggage, {_RUN_KEY: run})
    if attach:
        state.token = context.attach(state.ctx)
    return state


def _finish_span(span: trace.Span, error: BaseException | None, state: _RunState | None) -> None:
    """Record how a run or step ended on its span. Steps pass ``state=None``.

    A run started with ``auto_outcome`` already carries a provisional ``success``.
    """
    explicit = state.outcome if state is not None else None
    automatic: tuple[str, str | None] | None = None
    if error is None or isinstance(error, GeneratorExit):
        pass
    elif isinstance(error, asyncio.CancelledError):
        automatic = ("canceled", "asyncio.CancelledError")
    elif isinstance(error, SystemExit) and error.code in (None, 0):
        automatic = ("success", "SystemExit(0)")
    else:
        span.record_exception(error, escaped=True)
        description = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
        span.set_status(Status(StatusCode.ERROR, description))
        _set_fingerprint(span, error)
        if isinstance(error, KeyboardInterrupt):
            automatic = ("canceled", "KeyboardInterrupt")
        else:
            automatic = ("failure", type(error).__name__)
            # An explicit non-success outcome (say "timeout") is the user's better word;
            # an explicit "success" is contradicted by the exception.
            if explicit is not None and explicit.get(OUTCOME_STATUS) == "success":
                explicit = None
    if state is None:
        return
    if explicit is not None:
        span.set_attributes(explicit)
    elif automatic is not None and (automatic[0] != "success" or state.auto_outcome):
        status, reason = automatic
        span.set_attributes({OUTCOME_STATUS: status, OUTCOME_REASON: reason})


def _set_fingerprint(span: trace.Span, error: BaseException) -> None:
    """``botanu.error.fingerprint``, so a backend can group failing runs (and steps) into issues."""
    with contained("fingerprinting an error"):
        from botanu.logs._fingerprint import FINGERPRINT, fingerprint_exception

        span.set_attribute(FINGERPRINT, fingerprint_exception(error))


def _detach(token: object | None) -> None:
    if token is None:
        return
    try:
        context.detach(token)  # type: ignore[arg-type]
    except Exception:
        report_internal("detaching the run context")


def _end(state: _RunState | None, error: BaseException | None) -> None:
    if state is None:
        return
    if _run_end_listener is not None and state.auto_outcome is not None:
        try:
            _run_end_listener(state.span, state.attributes[RUN_ID])
        except Exception:
            report_internal("totalling a run's LLM calls")
    try:
        # A clean exit without an explicit outcome has nothing more to record.
        if error is not None or state.outcome is not None:
            _finish_span(state.span, error, state if state.auto_outcome is not None else None)
        state.span.end()
    except Exception:
        report_internal("ending a span")
    token, ctx = state.token, state.ctx
    state.token = None
    # The context refers back to this state (through the run or the step entry): dropping it
    # breaks the cycle, so the span and contexts are freed at once rather than by the cyclic GC.
    state.ctx = None
    if token is None:
        return
    if ctx is None or context.get_current() is ctx:
        _detach(token)
        _unwind_ended_scopes()
    else:
        # Out of order (interleaved generators, manual __enter__/__exit__): a scope opened after
        # this one is still current. Detaching now would put back what was current before this
        # one and lose the later scope; instead, when the context falls back to this ended
        # scope's, it is detached then (see _unwind_ended_scopes).
        _ended_out_of_order[id(ctx)] = (ctx, token)
        while len(_ended_out_of_order) > _MAX_ENDED_OUT_OF_ORDER:
            del _ended_out_of_order[next(iter(_ended_out_of_order))]


# Contexts of scopes that ended while a later scope was current, by identity, with their tokens.
_ended_out_of_order: dict[int, tuple[context.Context, object]] = {}
_MAX_ENDED_OUT_OF_ORDER = 1024


def _unwind_ended_scopes() -> None:
    """The current context may belong to a scope that already ended: detach it too (and so on)."""
    if not _ended_out_of_order:
        return
    while True:
        current = context.get_current()
        entry = _ended_out_of_order.get(id(current))
        if entry is None or entry[0] is not current:
            return
        del _ended_out_of_order[id(current)]
        _detach(entry[1])


# --------------------------------------------------------------------------- scopes


class _Scope:
    """Shared machinery of ``event`` and ``step``: sync/async context manager and decorator."""

    # Slots: one scope object is made per run and per step, and slot stores are the cheapest.
    __slots__ = ("_last",)

    @staticmethod
    def _state_in(ctx: context.Context) -> _RunState | None:
        """The state of the innermost scope of this kind that is open in ``ctx``."""
        raise NotImplementedError

    def _open(
        self,
        args: tuple | None = None,
        kwargs: dict | None = None,
        fn: Callable[..., Any] | None = None,
        attach: bool = True,
    ) -> _RunState | None:
        raise NotImplementedError

    def _exit(self, error: BaseException | None) -> None:
        # The state comes from the current context first: one scope object entered by several
        # threads or tasks at once has one open state per context, and ``_last`` is only
        # the most recent of them.
        found = self._state_in(context.get_current())
        state = found if found is not None and found.owner is self else self._last
        if state is self._last:
            self._last = None  # the state refers back to this scope: no cycle left for the GC
        _end(state, error)

    def __enter__(self) -> Any:
        state = self._last = self._open()
        # The run as seen inside this scope (for a step: with the step's name).
        return state.ctx.get(_RUN_KEY) if state is not None else None  # type: ignore[union-attr]

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> bool:
        self._exit(exc)
        return False

    async def __aenter__(self) -> Any:
        return self.__enter__()

    async def __aexit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> bool:
        self._exit(exc)
        return False

    def __call__(self, fn: _F) -> _F:
        if not callable(fn):
            misuse(
                "%s() used as a decorator needs a function, got %s",
                type(self).__name__.lower(),
                type(fn).__name__,
            )
            return fn
        if inspect.isasyncgenfunction(fn):
            return self._wrap_async_generator(fn)  # type: ignore[return-value]
        if inspect.isgeneratorfunction(fn):
            return self._wrap_generator(fn)  # type: ignore[return-value]
        if inspect.iscoroutinefunction(fn):
            return self._wrap_coroutine(fn)  # type: ignore[return-value]
        return self._wrap_function(fn)  # type: ignore[return-value]

    def _wrap_function(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            state = self._open(args, kwargs, fn)
            try:
                result = fn(*args, **kwargs)
            except BaseException as error:
                _end(state, error)
                raise
            _end(state, None)
            return result

        return wrapper

    def _wrap_coroutine(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            state = self._open(args, kwargs, fn)
            try:
                result = await fn(*args, **kwargs)
            except BaseException as error:
                _end(state, error)
                raise
            _end(state, None)
            return result

        return wrapper

    def _wrap_generator(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        # The span covers the whole iteration, but the run context is attached only
        # while the generator's own code runs, so it never leaks to the consumer.
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            state = self._open(args, kwargs, fn, attach=False)
            ctx = state.ctx if state is not None else None
            inner = fn(*args, **kwargs)
            to_send: Any = None
            to_throw: BaseException | None = None
            while True:
                token = context.attach(ctx) if ctx is not None else None
                try:
                    item = inner.throw(to_throw) if to_throw is not None else inner.send(to_send)
                except StopIteration as stop:
                    _detach(token)
                    _end(state, None)
                    return stop.value
                except BaseException as error:
                    _detach(token)
                    _end(state, error)
                    raise
                _detach(token)
                to_send, to_throw = None, None
                try:
                    to_send = yield item
                except GeneratorExit:
                    # The consumer stopped early: the generator's cleanup runs inside the run too,
                    # and if it fails the run records that.
                    token = context.attach(ctx) if ctx is not None else None
                    try:
                        inner.close()
                    except BaseException as error:
                        _end(state, error)
                        raise
                    finally:
                        _detach(token)
                    _end(state, None)
                    raise
                except BaseException as error:
                    to_throw = error

        return wrapper

    def _wrap_async_generator(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            state = self._open(args, kwargs, fn, attach=False)
            ctx = state.ctx if state is not None else None
            inner = fn(*args, **kwargs)
            to_send: Any = None
            to_throw: BaseException | None = None
            while True:
                token = context.attach(ctx) if ctx is not None else None
                try:
                    if to_throw is not None:
                        item = await inner.athrow(to_throw)
                    else:
                        item = await inner.asend(to_send)
                except StopAsyncIteration:
                    _detach(token)
                    _end(state, None)
                    return
                except BaseException as error:
                    _detach(token)
                    _end(state, error)
                    raise
                _detach(token)
                to_send, to_throw = None, None
                try:
                    to_send = yield item
                except GeneratorExit:
                    token = context.attach(ctx) if ctx is not None else None
                    try:
                        await inner.aclose()
                    except BaseException as error:
                        _end(state, error)
                        raise
                    finally:
                        _detach(token)
                    _end(state, None)
                    raise
                except BaseException as error:
                    to_throw = error

        return wrapper


_STEP_STATE_KEY = context.create_key("botanu.step_state")


class Event(_Scope):
    """A business run: use ``with``, ``async with`` or as a decorator. Made by :func:`event`."""

    __slots__ = (
        "_auto_outcome",
        "_capture_input",
        "_customer_id",
        "_environment",
        "_event_id",
        "_span_kind",
        "_tenant_id",
        "_workflow",
    )

    @staticmethod
    def _state_in(ctx: context.Context) -> _RunState | None:
        run = ctx.get(_RUN_KEY)
        return run._state if isinstance(run, RunContext) else None

    def __init__(
        self,
        *,
        event_id: str | Callable[..., Any],
        customer_id: str | Callable[..., Any],
        workflow: str,
        environment: str | None = None,
        tenant_id: str | None = None,
        auto_outcome_on_success: bool = True,
        capture_input: bool | None = None,
        span_kind: SpanKind = SpanKind.SERVER,
    ) -> None:
        self._configure(
            event_id,
            customer_id,
            workflow,
            environment,
            tenant_id,
            auto_outcome_on_success,
            capture_input,
            span_kind,
        )

    def _configure(
        self,
        event_id: str | Callable[..., Any],
        customer_id: str | Callable[..., Any],
        workflow: str,
        environment: str | None,
        tenant_id: str | None,
        auto_outcome_on_success: bool,
        capture_input: bool | None,
        span_kind: SpanKind,
    ) -> None:
        # Fast paths first: one is made for every run, and valid input is the norm.
        # (str.strip() returns the very same object when there is nothing to strip.)
        if type(workflow) is not str or not workflow or workflow.strip() is not workflow:
            if not isinstance(workflow, str) or not workflow.strip():
                misuse("event() needs a non-empty workflow name, got %r; using 'unknown'", workflow)
                workflow = "unknown"
            workflow = workflow.strip()
        if not workflow.isascii():
            workflow = valid_text(workflow)
        if span_kind is not SpanKind.SERVER and span_kind.__class__ is not SpanKind:
            misuse("span_kind must be an opentelemetry.trace.SpanKind, got %r; using SERVER", span_kind)
            span_kind = SpanKind.SERVER
        if type(event_id) is str and (len(event_id) > MAX_ID_CHARS or not event_id.isascii()):
            event_id = valid_text(event_id[:MAX_ID_CHARS])
        if type(customer_id) is str and (len(customer_id) > MAX_ID_CHARS or not customer_id.isascii()):
            customer_id = valid_text(customer_id[:MAX_ID_CHARS])
        if environment is not None:
            environment = _check_id("environment", environment, None)
        if tenant_id is not None:
            tenant_id = _check_id("tenant_id", tenant_id, None)
        if auto_outcome_on_success is not True and auto_outcome_on_success is not False:
            auto_outcome_on_success = _flag("auto_outcome_on_success", auto_outcome_on_success, True)
        if capture_input is not None:
            capture_input = _flag("capture_input", capture_input, False)
        self._workflow = workflow
        self._event_id = event_id
        self._customer_id = customer_id
        self._environment = environment
        self._tenant_id = tenant_id
        self._auto_outcome = auto_outcome_on_success
        self._capture_input = capture_input
        self._span_kind = span_kind
        self._last: _RunState | None = None

    def _resolve(self, name: str, value: Any, args: tuple | None, kwargs: dict | None) -> str | None:
        if callable(value):
            if args is None:
                misuse(
                    "%s is a callable, which only works when event() decorates a function; "
                    "pass a string in the context-manager form",
                    name,
                    site=None,
                )
                return None
            return _call_id(name, value, args, kwargs or {}, None)
        return _check_id(name, value, None)

    def _open(
        self,
        args: tuple | None = None,
        kwargs: dict | None = None,
        fn: Callable[..., Any] | None = None,
        attach: bool = True,
    ) -> _RunState | None:
        captured = None
        if fn is not None and _should_capture(self._capture_input):
            captured = _capture(fn, args or (), kwargs or {})
        event_id = self._event_id
        if type(event_id) is not str:
            event_id = self._resolve("event_id", event_id, args, kwargs)
        customer_id = self._customer_id
        if type(customer_id) is not str:
            customer_id = self._resolve("customer_id", customer_id, args, kwargs)
        try:
            return _start_run(
                self,
                event_id,
                customer_id,
                self._workflow,
                self._environment,
                self._tenant_id,
                self._auto_outcome,
                self._span_kind,
                captured,
                attach,
            )
        except BotanuUsageError:
            raise
        except Exception:
            report_internal("starting a run")
            return None


class Step(_Scope):
    """A phase of a run: use ``with``, ``async with`` or as a decorator. Made by :func:`step`."""

    __slots__ = ("_name",)

    @staticmethod
    def _state_in(ctx: context.Context) -> _RunState | None:
        return ctx.get(_STEP_STATE_KEY)  # type: ignore[return-value]

    def __init__(self, name: str) -> None:
        if type(name) is not str or not name or name.strip() is not name:
            if not isinstance(name, str) or not name.strip():
                misuse("step() needs a non-empty name, got %r; using 'unnamed'", name)
                name = "unnamed"
            name = name.strip()
        if not name.isascii():
            name = valid_text(name)
        self._name = name
        self._last: _RunState | None = None

    def _open(
        self,
        args: tuple | None = None,
        kwargs: dict | None = None,
        fn: Callable[..., Any] | None = None,
        attach: bool = True,
    ) -> _RunState | None:
        try:
            parent_ctx = context.get_current()
            run: RunContext | None = parent_ctx.get(_RUN_KEY)  # type: ignore[assignment]
            # Everything the enricher would add goes on at creation, in one go.
            if run is not None and run._state is not None:
                enclosing = parent_ctx.get(_STEP_STATE_KEY) or run._state
                if isinstance(enclosing, _RunState) and baggage_map(parent_ctx) is enclosing.baggage:
                    extra = enclosing.extra  # nothing changed the baggage since the enclosing scope
                else:
                    _, extra = botanu_entries(parent_ctx)
                attributes = {**dict(extra), **run._state.attributes, STEP: self._name}
            else:
                inherited, extra = botanu_entries(parent_ctx)
                attributes = {**dict(inherited), STEP: self._name}
            span = tracer().start_span(
                STEP_SPAN_PREFIX + self._name,
                context=parent_ctx,
                kind=SpanKind.INTERNAL,
                attributes=attributes,
            )
            state = _RunState(span, self, auto_outcome=None)
            values: dict[str, object] = {_STEP_STATE_KEY: state}
            if run is not None:
                values[_RUN_KEY] = run._with_step(self._name)
            state.baggage = merged_baggage(parent_ctx, {STEP: self._name})
            state.extra = extra
            state.ctx = derive_context(parent_ctx, span, state.baggage, values)
            if attach:
                state.token = context.attach(state.ctx)
            return state
        except Exception:
            report_internal("starting a step")
            return None


# --------------------------------------------------------------------------- public functions


def event(
    *,
    event_id: str | Callable[..., Any],
    customer_id: str | Callable[..., Any],
    workflow: str,
    environment: str | None = None,
    tenant_id: str | None = None,
    auto_outcome_on_success: bool = True,
    capture_input: bool | None = None,
    span_kind: SpanKind = SpanKind.SERVER,
) -> Event:
    """Open a business run. Use it as ``with``, ``async with`` or a decorator.

    Args:
        event_id: Business event identifier, the join key for outcome correlation.
            A string, or (decorator form only) a callable that receives the
            decorated function's arguments.
        customer_id: The customer being served; same rules as ``event_id``.
        workflow: Workflow name (low cardinality). The span is ``botanu.run/<workflow>``.
        environment: Deployment environment; defaults to the configured one
            (``BOTANU_ENVIRONMENT`` / ``OTEL_DEPLOYMENT_ENVIRONMENT``).
        tenant_id: Tenant identifier for multi-tenant apps (inherited by nested runs).
        auto_outcome_on_success: Mark the run ``success`` on a clean exit.
        capture_input: Record the decorated function's arguments as JSON
            (``botanu.input``, redacted before export). ``None`` samples with
            ``content_capture_rate``.
        span_kind: The run span's kind (default SERVER).

    Every run gets a fresh UUIDv7 ``botanu.run_id``; ids travel as W3C baggage to
    threads, tasks and downstream services. On an exception the span is marked
    ERROR, the outcome becomes ``failure`` and the exception is re-raised.
    """
    # One is made for every run: built without a second round of keyword arguments.
    scope: Event = object.__new__(Event)
    scope._configure(
        event_id,
        customer_id,
        workflow,
        environment,
        tenant_id,
        auto_outcome_on_success,
        capture_input,
        span_kind,
    )
    return scope


def step(name: str) -> Step:
    """Open a phase of the current run as an INTERNAL span ``botanu.step/<name>``.

    Works as ``with``, ``async with`` and as a decorator; steps nest. The name is
    stamped as ``botanu.step`` on the span and carried in baggage, so spans inside
    the step (HTTP calls, LLM calls) say which step they belong to.
    """
    return Step(name)


def outcome(
    status: str,
    reason: str | None = None,
    value_type: str | None = None,
    value_amount: float | None = None,
    confidence: float | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> None:
    """Set the business outcome of the enclosing run (last call wins).

    Works from inside steps and child spans: the attributes go on the run span.
    ``status`` is one of success, failure, partial, timeout, canceled.
    """
    run = context.get_value(_RUN_KEY)
    state = run._state if isinstance(run, RunContext) else None
    if state is None:
        misuse("outcome() called outside a botanu.event() run in this process; ignored")
        return
    if not isinstance(status, str) or status not in OUTCOME_STATUSES:
        misuse("outcome status must be one of %s, got %r; ignored", ", ".join(OUTCOME_STATUSES), status)
        return
    attributes: dict[str, Any] = {OUTCOME_STATUS: status}
    for key, value, name in (
        (OUTCOME_REASON, reason, "reason"),
        (OUTCOME_VALUE_TYPE, value_type, "value_type"),
    ):
        if value is not None:
            text = value if isinstance(value, str) else safe_text(value)
            if text is None:
                misuse("outcome %s could not be turned into text; not recorded", name)
            else:
                attributes[key] = text
    amount = _finite_number(value_amount)
    if value_amount is not None and amount is None:
        misuse("outcome value_amount must be a finite number, got %r; not recorded", value_amount)
    elif amount is not None:
        attributes[OUTCOME_VALUE_AMOUNT] = amount
    score = _finite_number(confidence)
    if confidence is not None and (score is None or not 0 <= score <= 1):
        misuse("outcome confidence must be a number between 0 and 1, got %r; not recorded", confidence)
    elif score is not None:
        attributes[OUTCOME_CONFIDENCE] = score
    if metadata is not None:
        if not isinstance(metadata, Mapping):
            misuse("outcome metadata must be a mapping, got %s; not recorded", type(metadata).__name__)
        else:
            attributes.update(_metadata_attributes(metadata))
    state.outcome = attributes


emit_outcome = outcome

_INT64 = 2**63


def _finite_number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def _metadata_attributes(metadata: Mapping[Any, Any]) -> dict[str, Any]:
    """Outcome metadata as attributes: at most 64 entries, primitives kept, anything else as text."""
    out: dict[str, Any] = {}
    try:
        items = list(metadata.items())[:64]
    except Exception:
        misuse("outcome metadata could not be read; not recorded")
        return out
    for key, value in items:
        name = key if isinstance(key, str) else safe_text(key)
        if isinstance(value, (bool, str, float)):
            shown: Any = value
        elif isinstance(value, int):
            # OTLP carries int64; a bigger int is kept as its digits.
            shown = value if -_INT64 <= value < _INT64 else str(value)
        else:
            shown = safe_text(value)
        if name is None or shown is None:
            misuse("an outcome metadata entry could not be turned into text; it is left out")
            continue
        out[OUTCOME_METADATA_PREFIX + name] = shown
    return out

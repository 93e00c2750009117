"""``act()`` and ``assert_()``: business flow events as spans, with local validation.

Unlike the Business-Use SDK, every callable argument (``run_id``, ``dep_ids``,
``filter``, ``validator``) is called right here, in the caller's thread and
context, so ``lambda: botanu.current_run().run_id`` reads the caller's run, and
nothing is ever serialised or executed from source text.
"""

from __future__ import annotations

import inspect
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from opentelemetry import trace
from opentelemetry.trace import SpanContext

from botanu._analytics_attributes import baggage_attributes
from botanu._safety import contained, misuse, safe_text, user_call_site, warn_once
from botanu.context._run import current_run
from botanu.flows import _names as names
from botanu.flows._model import declared
from botanu.flows._runs import MAX_NODE_DATA_BYTES, tracker
from botanu.flows._spans import NodeOutcome, emit_node_span
from botanu.flows._verdict import Arrival

MAX_ID_CHARS = 128
MAX_RUN_ID_CHARS = 256
MAX_DEP_IDS = 64
MAX_DESCRIPTION_CHARS = 1024


_INVALID = object()  # a resolved argument that was bad input (already reported)


@dataclass(frozen=True, slots=True)
class _Node:
    node_type: str
    node_id: str
    flow: str
    run_id: str
    dep_ids: tuple[str, ...]
    data: Mapping[Any, Any]
    description: str | None


def act(
    id: str,
    flow: str,
    run_id: str | Callable[[], str] | None = None,
    data: Mapping[str, Any] | None = None,
    *,
    filter: bool | Callable[[], bool] | None = None,
    dep_ids: Sequence[str] | Callable[[], Sequence[str]] | None = None,
    description: str | None = None,
) -> None:
    """Record a business action of a flow run as a span ``<flow>.<id>``.

    Args:
        id: The node id, unique within the flow (e.g. ``"payment_processed"``).
        flow: The flow name (e.g. ``"checkout"``).
        run_id: Which run of the flow this belongs to: a string, or a callable
            returning one, called now in the caller's context. Omitted or None
            inside a ``botanu.event()`` run: that run's id.
        data: The event's payload, recorded as ``botanu.data.<key>`` attributes
            (flattened, bounded, redacted on export).
        filter: False, or a callable returning False, records nothing.
        dep_ids: Ids of the nodes this one depends on (a list, or a callable
            returning one). Omitted: the declared flow's dependencies, if any.
        description: Human-readable text (``botanu.node.description``).

    Never raises: bad input logs one warning and records nothing
    (``BOTANU_STRICT=1`` raises :class:`botanu.BotanuUsageError` instead).
    Async callables are rejected: they cannot run in the caller's context.
    """
    _record(names.ACT, id, flow, run_id, data, filter, dep_ids, None, description, user_call_site())


def assert_(
    id: str,
    flow: str,
    run_id: str | Callable[[], str] | None = None,
    data: Mapping[str, Any] | None = None,
    *,
    filter: bool | Callable[[], bool] | None = None,
    dep_ids: Sequence[str] | Callable[[], Sequence[str]] | None = None,
    validator: Callable[[Mapping[str, Any], dict[str, Any]], bool] | None = None,
    description: str | None = None,
) -> None:
    """Record a business assertion of a flow run as a span ``<flow>.<id>``, validated here and now.

    Arguments are those of :func:`act`, plus ``validator(data, ctx) -> bool``,
    called at once in the caller's context. ``ctx`` is a dict with ``flow``,
    ``run_id``, ``id`` and ``deps``: a list of ``{"flow", "id", "data"}`` for
    this node's dependencies already seen in this run in this process.

    The result is ``botanu.assert.passed``. A failed assertion marks the span
    ERROR with a description saying why; a validator that raises counts as
    failed, its exception is recorded on the span and never reaches the caller.
    Without a validator the assertion passes (it asserts that the event happened).
    """
    _record(names.ASSERT, id, flow, run_id, data, filter, dep_ids, validator, description, user_call_site())


def _record(
    node_type: str,
    node_id: object,
    flow: object,
    run_id: object,
    data: object,
    filter: object,
    dep_ids: object,
    validator: object,
    description: object,
    site: tuple[str, int],
) -> None:
    api = f"{node_type if node_type == names.ACT else 'assert_'}()"
    with contained("recording a flow node"):
        if not _valid_name(api, "id", node_id, site) or not _valid_name(api, "flow", flow, site):
            return
        node_id, flow = cast(str, node_id), cast(str, flow)
        if validator is not None and not callable(validator):
            misuse(
                "%s validator must be a callable(data, ctx) -> bool, got %s; nothing recorded",
                api,
                type(validator).__name__,
                site=site,
            )
            return
        callables = {"run_id": run_id, "dep_ids": dep_ids, "filter": filter, "validator": validator}
        if _rejected_async(api, callables, site):
            return

        keep = _filter(api, filter, site)
        if keep is _INVALID:
            return
        if not keep:
            _note_filtered(flow, node_id, run_id)
            return
        resolved_run_id = _run_id(api, run_id, site, report=True)
        if resolved_run_id is None:
            return
        deps = _dep_ids(api, dep_ids, flow, node_id, site)
        if deps is _INVALID:
            return
        if data is None:
            data = {}
        if not isinstance(data, Mapping):
            misuse(
                "%s data must be a mapping (dict), got %s; nothing recorded",
                api,
                type(data).__name__,
                site=site,
            )
            return
        if description is not None:
            description = str(description)[:MAX_DESCRIPTION_CHARS]
        node = _Node(node_type, node_id, flow, resolved_run_id, deps, data, cast("str | None", description))
        outcome = _validate(api, node, validator, site) if node_type == names.ASSERT else NodeOutcome()
        _emit_and_track(node, outcome, site)


def _emit_and_track(node: _Node, outcome: NodeOutcome, site: tuple[str, int]) -> None:
    anchor = _anchor()
    identity = baggage_attributes()
    span_context = emit_node_span(
        flow=node.flow,
        node_id=node.node_id,
        node_type=node.node_type,
        run_id=node.run_id,
        dep_ids=node.dep_ids,
        description=node.description,
        data=node.data,
        outcome=outcome,
        run_identity=identity,
    )
    arrival = Arrival(node.node_id, 0.0, node.node_type, node.dep_ids, outcome.passed, outcome.reason)
    if not tracker.observe(node.flow, node.run_id, arrival, node.data, anchor or span_context, identity):
        warn_once(
            ("flow data too large", site),
            "botanu: %s.%s data is larger than %d KiB (or cannot be copied), so it is not kept for the "
            "validators of later nodes (ctx['deps'] will not list it); the span records it as usual "
            "(%s:%d)",
            node.flow,
            node.node_id,
            MAX_NODE_DATA_BYTES // 1024,
            *site,
        )


def _note_filtered(flow: str, node_id: str, run_id: object) -> None:
    """A filtered node of a declared flow is remembered (no span) so its run can call it ``skipped``."""
    if declared(flow) is None:
        tracker.check_timeouts()
        return
    resolved = _run_id("", run_id, ("", 0), report=False)
    if resolved is None:
        return
    tracker.note_filtered(flow, resolved, node_id, _anchor(), baggage_attributes())


def _anchor() -> SpanContext | None:
    """Where a run's verdict span will hang: the botanu run's span, else the current span.

    The run span rather than the current one, so a verdict does not look like part
    of whichever step happened to see the flow's first node.
    """
    run = current_run()
    state = getattr(run, "_state", None) if run is not None and run.is_local else None
    span = getattr(state, "span", None)
    candidate = span.get_span_context() if span is not None else trace.get_current_span().get_span_context()
    return candidate if candidate.is_valid else None


# --------------------------------------------------------------------------- argument resolution


def _is_async(fn: Any) -> bool:
    return (
        inspect.iscoroutinefunction(fn)
        or inspect.isasyncgenfunction(fn)
        or inspect.iscoroutinefunction(type(fn).__call__)  # an object with async __call__
    )


def _rejected_async(api: str, arguments: Mapping[str, object], site: tuple[str, int]) -> bool:
    """True (after one warning) when any argument is an async callable."""
    for name, value in arguments.items():
        if callable(value) and _is_async(value):
            misuse(
                "%s %s is an async callable; botanu calls it at once in the caller's context and cannot "
                "await it: pass a plain function; nothing recorded",
                api,
                name,
                site=site,
            )
            return True
    return False


def _rejected_awaitable(api: str, name: str, value: object, site: tuple[str, int]) -> bool:
    """True (after one warning) when a callable returned an awaitable instead of a value."""
    if not inspect.isawaitable(value):
        return False
    if inspect.iscoroutine(value):
        value.close()  # never awaited: close it so Python does not warn about it later
    misuse(
        "%s %s returned an awaitable; botanu cannot await it in the caller's context: pass a plain "
        "function; nothing recorded",
        api,
        name,
        site=site,
    )
    return True


def _call(api: str, name: str, fn: Callable[[], Any], site: tuple[str, int], report: bool = True) -> Any:
    try:
        value = fn()
    except Exception as error:
        if report:
            misuse(
                "%s %s callable raised %s: %s; nothing recorded",
                api,
                name,
                type(error).__name__,
                error,
                site=site,
            )
        return _INVALID
    if report and _rejected_awaitable(api, name, value, site):
        return _INVALID
    if not report and inspect.iscoroutine(value):
        value.close()
        return _INVALID
    return value


def _valid_name(api: str, what: str, value: object, site: tuple[str, int]) -> bool:
    if isinstance(value, str) and value.strip() and len(value) <= MAX_ID_CHARS:
        return True
    misuse(
        "%s %s must be a non-empty string of at most %d characters, got %r; nothing recorded",
        api,
        what,
        MAX_ID_CHARS,
        value if not isinstance(value, str) else value[:40],
        site=site,
    )
    return False


def _filter(api: str, value: object, site: tuple[str, int]) -> object:
    if value is None:
        return True
    if isinstance(value, bool):
        return value
    if callable(value):
        result = _call(api, "filter", value, site)
        return result if result is _INVALID else bool(result)
    misuse(
        "%s filter must be a bool or a callable returning one, got %s; nothing recorded",
        api,
        type(value).__name__,
        site=site,
    )
    return _INVALID


def _run_id(api: str, value: object, site: tuple[str, int], report: bool) -> str | None:
    if callable(value):
        value = _call(api, "run_id", value, site, report)
        if value is _INVALID:
            return None
    if value is None:
        run = current_run()
        if run is not None:
            return run.run_id
        if report:
            misuse(
                "%s needs a run_id outside a botanu.event() run (or a callable returning one); nothing "
                "recorded",
                api,
                site=site,
            )
        return None
    if isinstance(value, (int, uuid.UUID)) and not isinstance(value, bool):
        value = str(value)  # integer and UUID run ids are common and unambiguous
    if isinstance(value, str) and value.strip():
        return value[:MAX_RUN_ID_CHARS]
    if report:
        misuse("%s run_id must be a non-empty string, got %r; nothing recorded", api, value, site=site)
    return None


def _dep_ids(api: str, value: object, flow: str, node_id: str, site: tuple[str, int]) -> Any:
    if callable(value):
        value = _call(api, "dep_ids", value, site)
        if value is _INVALID:
            return _INVALID
    if value is None:
        return tracker.declared_deps(flow, node_id) or ()
    if isinstance(value, (list, tuple, set, frozenset)) and all(
        isinstance(dep, str) and dep for dep in value
    ):
        deps = tuple(dict.fromkeys(sorted(value) if isinstance(value, (set, frozenset)) else value))
        return tuple(dep[:MAX_ID_CHARS] for dep in deps[:MAX_DEP_IDS])
    misuse(
        "%s dep_ids must be a list of node ids (or a callable returning one), got %r; nothing recorded",
        api,
        value,
        site=site,
    )
    return _INVALID


# --------------------------------------------------------------------------- validation


def _validate(api: str, node: _Node, validator: object, site: tuple[str, int]) -> NodeOutcome:
    if validator is None:
        return NodeOutcome()
    ctx = {
        "flow": node.flow,
        "run_id": node.run_id,
        "id": node.node_id,
        "deps": tracker.dependency_data(node.flow, node.run_id, node.dep_ids),
    }
    try:
        result = validator(node.data, ctx)  # type: ignore[operator]
    except Exception as error:  # the user's validator failing is a failed assertion, not a crash
        return NodeOutcome(False, f"validator raised {type(error).__name__}: {error}", error)
    if inspect.isawaitable(result):
        if inspect.iscoroutine(result):
            result.close()
        misuse(
            "%s validator returned an awaitable; it must return a bool at once (the assertion is recorded "
            "as failed)",
            api,
            site=site,
        )
        return NodeOutcome(False, "validator returned an awaitable")
    try:
        passed = bool(result)  # a numpy array or pandas Series refuses to be one bool
    except Exception as error:
        return NodeOutcome(False, f"validator result is not true or false ({type(error).__name__})", error)
    if not isinstance(result, bool) and type(result).__name__ != "bool_":  # numpy's bool is fine
        # An error string or a list of problems would otherwise pass silently.
        misuse(
            "%s validator returned %s, not a bool; it counts as %s by its truth value (return True or False)",
            api,
            type(result).__name__,
            "passed" if passed else "failed",
            site=site,
        )
    if passed:
        return NodeOutcome(True)
    return NodeOutcome(False, f"validator returned {safe_text(result)}")

"""Declared flows: their nodes, dependencies and timeouts, and the process-wide registry.

A flow is a small DAG of nodes (acts and assertions) identified by id. Declaring
one is optional for recording spans, but it is what lets botanu give each run a
verdict: without a declaration nobody knows which nodes a run still waits for.
"""

from __future__ import annotations

import itertools
import math
import os
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from botanu._safety import safe_repr
from botanu.flows._names import NODE_TYPES

MAX_NODES = 256
MAX_NAME_CHARS = 128


class FlowDefinitionError(ValueError):
    """A flow declaration that cannot be used (the message names the flow and the problem)."""


@dataclass(frozen=True, slots=True)
class FlowNode:
    """One node of a declared flow.

    Args:
        id: The node id, as passed to ``act(id=...)`` / ``assert_(id=...)``.
        dep_ids: Ids of the nodes that must happen before this one.
        timeout: Seconds this node may take to arrive once its dependencies have
            all arrived (for a node without dependencies: once the run started).
            ``None`` waits for as long as the flow's own timeout, if any.
        type: ``"act"`` or ``"assert"``, for display only (the event says which it is).
        description: Human-readable text, for display only.
    """

    id: str
    dep_ids: tuple[str, ...] = ()
    timeout: float | None = None
    type: str | None = None
    description: str | None = None


@dataclass(frozen=True, slots=True)
class Flow:
    """A declared flow: a name, its nodes in declaration order, and an optional run timeout (seconds)."""

    name: str
    nodes: tuple[FlowNode, ...]
    timeout: float | None = None
    _by_id: dict[str, FlowNode] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._by_id.update({node.id: node for node in self.nodes})

    def node(self, node_id: str) -> FlowNode | None:
        """Return the declared node with this id, or None."""
        return self._by_id.get(node_id)


# --------------------------------------------------------------------------- building


_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|m|h)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_duration(value: object, what: str) -> float | None:
    """Seconds from a number or a string like ``"500ms"``, ``"5s"``, ``"2m"``, ``"1h"``; None stays None."""
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            seconds = float(value)
        except OverflowError:  # an int too large for a float: too long, like any infinite value
            seconds = math.inf
    elif isinstance(value, str) and (match := _DURATION.match(value)):
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    else:
        raise FlowDefinitionError(
            f"{what}: timeout must be seconds or a string like '500ms', '5s', '2m'; got {safe_repr(value)}"
        )
    if not math.isfinite(seconds) or seconds <= 0:
        raise FlowDefinitionError(f"{what}: timeout must be a positive duration, got {safe_repr(value)}")
    return seconds


def _name(value: object, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise FlowDefinitionError(f"{what} must be a non-empty string, got {safe_repr(value)}")
    if len(value) > MAX_NAME_CHARS:
        raise FlowDefinitionError(f"{what} is longer than {MAX_NAME_CHARS} characters")
    return value.strip()


def _field_name(key: object) -> str:
    return key if isinstance(key, str) else safe_repr(key)


def _node(spec: FlowNode | Mapping[str, Any] | str, flow: str) -> FlowNode:
    if isinstance(spec, str):
        return FlowNode(_name(spec, f"flow {flow!r}: a node id"))
    if isinstance(spec, FlowNode):
        spec = {
            "id": spec.id,
            "dep_ids": spec.dep_ids,
            "timeout": spec.timeout,
            "type": spec.type,
            "description": spec.description,
        }
    if not isinstance(spec, Mapping):
        raise FlowDefinitionError(
            f"flow {flow!r}: a node must be an id, a mapping or a FlowNode, got {type(spec).__name__}"
        )
    unknown = set(spec) - {"id", "dep_ids", "deps", "timeout", "type", "description"}
    if unknown:
        raise FlowDefinitionError(
            f"flow {flow!r}: unknown node field(s) {', '.join(sorted(map(_field_name, unknown)))}"
        )
    node_id = _name(spec.get("id"), f"flow {flow!r}: a node id")
    where = f"flow {flow!r}, node {node_id!r}"
    raw_deps = spec.get("dep_ids", spec.get("deps")) or ()
    if isinstance(raw_deps, str) or not isinstance(raw_deps, Iterable):
        raise FlowDefinitionError(f"{where}: dep_ids must be a list of node ids, got {safe_repr(raw_deps)}")
    deps = tuple(_name(dep, f"{where}: a dependency id") for dep in raw_deps)
    node_type = spec.get("type")
    if node_type is not None and (not isinstance(node_type, str) or node_type not in NODE_TYPES):
        raise FlowDefinitionError(f"{where}: type must be 'act' or 'assert', got {safe_repr(node_type)}")
    description = spec.get("description")
    return FlowNode(
        id=node_id,
        dep_ids=tuple(dict.fromkeys(deps)),
        timeout=parse_duration(spec.get("timeout"), where),
        type=node_type,
        description=None if description is None else str(description),
    )


def build_flow(
    name: object, nodes: Iterable[FlowNode | Mapping[str, Any] | str], timeout: object = None
) -> Flow:
    """Validate a declaration and return the :class:`Flow`; raises :class:`FlowDefinitionError`.

    Checks: non-empty unique ids, dependencies that name declared nodes, no cycles.
    """
    try:
        return _build_flow(name, nodes, timeout)
    except FlowDefinitionError:
        raise
    except Exception as error:  # the user's objects misbehaved (an __iter__, __eq__ or __str__ that raises)
        raise FlowDefinitionError(
            f"the declaration could not be read: {type(error).__name__} raised by one of its values"
        ) from None


def _build_flow(name: object, nodes: object, timeout: object) -> Flow:
    flow_name = _name(name, "a flow name")
    if isinstance(nodes, (str, Mapping)) or not isinstance(nodes, Iterable):
        raise FlowDefinitionError(f"flow {flow_name!r}: nodes must be a list, got {type(nodes).__name__}")
    try:
        specs = list(itertools.islice(nodes, MAX_NODES + 1))  # an endless iterator must not hang the app
    except Exception as error:  # a user iterable that raises
        raise FlowDefinitionError(
            f"flow {flow_name!r}: nodes could not be read ({type(error).__name__} while iterating)"
        ) from None
    built = [_node(spec, flow_name) for spec in specs]
    if not built:
        raise FlowDefinitionError(f"flow {flow_name!r} has no nodes")
    if len(built) > MAX_NODES:
        raise FlowDefinitionError(f"flow {flow_name!r} has more than {MAX_NODES} nodes")
    ids = [node.id for node in built]
    duplicates = sorted({node_id for node_id in ids if ids.count(node_id) > 1})
    if duplicates:
        raise FlowDefinitionError(f"flow {flow_name!r}: duplicate node id(s) {', '.join(duplicates)}")
    known = set(ids)
    for node in built:
        missing = [dep for dep in node.dep_ids if dep not in known]
        if missing:
            raise FlowDefinitionError(
                f"flow {flow_name!r}, node {node.id!r}: depends on undeclared node(s) {', '.join(missing)}"
            )
    cycle = _find_cycle({node.id: node.dep_ids for node in built})
    if cycle:
        raise FlowDefinitionError(f"flow {flow_name!r}: dependency cycle {' -> '.join(cycle)}")
    return Flow(flow_name, tuple(built), parse_duration(timeout, f"flow {flow_name!r}"))


def _find_cycle(graph: Mapping[str, tuple[str, ...]]) -> list[str] | None:
    """One dependency cycle in ``graph`` as a path, or None (iterative DFS: no recursion limit)."""
    done: set[str] = set()
    for start in graph:
        if start in done:
            continue
        path: list[str] = []
        on_path: set[str] = set()
        stack: list[tuple[str, int]] = [(start, 0)]
        while stack:
            node, index = stack.pop()
            if index == 0:
                path.append(node)
                on_path.add(node)
            deps = graph.get(node, ())
            if index < len(deps):
                stack.append((node, index + 1))
                dep = deps[index]
                if dep in on_path:
                    return [*path[path.index(dep) :], dep]
                if dep not in done:
                    stack.append((dep, 0))
                continue
            path.pop()
            on_path.discard(node)
            done.add(node)
    return None


# --------------------------------------------------------------------------- registry

_lock = threading.Lock()
_flows: dict[str, Flow] = {}


def register(flow: Flow) -> None:
    """Make ``flow`` the declaration for its name (a later declaration replaces an earlier one).

    Runs that already started keep the declaration they started with.
    """
    with _lock:
        _flows[flow.name] = flow


def declared(name: str) -> Flow | None:
    """The declared flow with this name, or None."""
    return _flows.get(name)


def declared_flows() -> list[Flow]:
    """All declared flows, in declaration order."""
    with _lock:
        return list(_flows.values())


def forget_all() -> None:
    """Forget every declaration (for tests)."""
    with _lock:
        _flows.clear()


def _after_fork_in_child() -> None:
    global _lock
    _lock = threading.Lock()  # a lock held by another thread at fork() would stay held in the child


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)

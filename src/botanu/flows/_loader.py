"""Read flow declarations from YAML (or JSON) files.

Accepted shapes (YAML shown; the same structures work as JSON)::

    flows:
      - name: checkout
        timeout: 2m                 # optional: the whole run
        nodes:
          - id: payment_processed
          - id: inventory_reserved
            dep_ids: [payment_processed]
            timeout: 5s             # optional: after its dependencies arrived
          - id: order_total_matches
            type: assert
            dep_ids: [inventory_reserved]

``flows:`` may also be a mapping from flow name to ``{nodes, timeout}``, a file may
hold a single flow (``name:``/``flow:`` plus ``nodes:``), and ``nodes:`` may be a
mapping from node id to its fields. Validators are never read from files: they
are code, and botanu never executes source text.

PyYAML is an optional dependency (``pip install 'botanu[flows]'``); ``.json``
files are read without it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

from botanu.flows._model import Flow, FlowDefinitionError, build_flow

YAML_MISSING = (
    "reading flows from YAML needs PyYAML, which is not installed: pip install 'botanu[flows]' "
    "(or write the flows file as JSON)"
)


def read_flows_file(path: str | os.PathLike[str]) -> list[Flow]:
    """Parse the flows in ``path``; raises :class:`FlowDefinitionError` or ``OSError``."""
    path = _path_text(path)
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except ValueError as error:  # a name the OS cannot take (NUL, lone surrogates), or not UTF-8 text
        raise FlowDefinitionError(f"{path!r}: cannot be read ({error})") from None
    if path.lower().endswith(".json"):
        try:
            document = json.loads(text)
        except (ValueError, RecursionError) as error:
            raise FlowDefinitionError(f"{path}: not valid JSON ({error})") from None
    else:
        document = _load_yaml(text, path)
    return flows_from_document(document, source=path)


def _path_text(path: object) -> str:
    """``path`` as text; anything that is not a path is a :class:`FlowDefinitionError`, not a TypeError."""
    if not isinstance(path, (str, bytes, os.PathLike)):
        raise FlowDefinitionError(f"expected a file path (str or os.PathLike), got {type(path).__name__}")
    try:
        return os.fsdecode(path)
    except Exception as error:  # a PathLike whose __fspath__ raises or returns something else
        raise FlowDefinitionError(f"the path could not be read ({type(error).__name__})") from None


def _load_yaml(text: str, path: str) -> Any:
    try:
        import yaml  # optional extra: imported only when a YAML file is read
    except ImportError:
        raise FlowDefinitionError(YAML_MISSING) from None
    try:
        return yaml.safe_load(text)
    except (yaml.YAMLError, RecursionError) as error:
        raise FlowDefinitionError(f"{path}: not valid YAML ({error})") from None


def flows_from_document(document: Any, source: str = "<document>") -> list[Flow]:
    """Build flows from an already parsed document (see the module docstring for its shapes)."""
    specs: list[Mapping[str, Any]]
    if isinstance(document, list):
        specs = document
    elif isinstance(document, Mapping) and "flows" in document:
        raw = document["flows"]
        if isinstance(raw, Mapping):
            specs = [
                {"name": name, **_fields(spec, "nodes", f"{source}: flow {name!r}")}
                for name, spec in raw.items()
            ]
        elif isinstance(raw, list):
            specs = raw
        else:
            raise FlowDefinitionError(f"{source}: 'flows' must be a list or a mapping")
    elif isinstance(document, Mapping) and "nodes" in document:
        specs = [document]
    else:
        raise FlowDefinitionError(f"{source}: expected 'flows:' or a single flow with 'nodes:'")
    flows = [_flow(spec, source) for spec in specs]
    names = [flow.name for flow in flows]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise FlowDefinitionError(f"{source}: flow(s) declared twice: {', '.join(repeated)}")
    return flows


def _flow(spec: Any, source: str) -> Flow:
    if not isinstance(spec, Mapping):
        raise FlowDefinitionError(f"{source}: each flow must be a mapping, got {type(spec).__name__}")
    unknown = set(spec) - {"name", "flow", "nodes", "timeout", "description"}
    if unknown:
        raise FlowDefinitionError(f"{source}: unknown flow field(s) {', '.join(sorted(map(str, unknown)))}")
    nodes = spec.get("nodes")
    if isinstance(nodes, Mapping):  # {id: {dep_ids: ..., timeout: ...}}
        nodes = [
            {"id": node_id, **_fields(fields, "dep_ids", f"{source}: node {node_id!r}")}
            for node_id, fields in nodes.items()
        ]
    if nodes is None:
        nodes = []
    try:
        return build_flow(spec.get("name", spec.get("flow")), nodes, spec.get("timeout"))
    except FlowDefinitionError as error:
        if str(error).startswith(source):
            raise
        raise FlowDefinitionError(f"{source}: {error}") from None


def _fields(value: Any, list_means: str, where: str) -> Mapping[str, Any]:
    """The fields of a mapping-style entry; a bare list is shorthand for its ``list_means`` field."""
    if value is None:
        return {}
    if isinstance(value, list):
        return {list_means: value}
    if isinstance(value, Mapping):
        return value
    raise FlowDefinitionError(f"{where}: expected a mapping or a list, got {type(value).__name__}")

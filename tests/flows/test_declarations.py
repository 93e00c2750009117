"""Declaring flows in code and from YAML / JSON files."""

from __future__ import annotations

import json
import logging
import sys

import pytest

import botanu
from botanu.flows import Flow, FlowNode, declared_flows, define_flow, load_flows

YAML = """
flows:
  - name: checkout
    timeout: 2m
    nodes:
      - id: payment_processed
        type: act
      - id: inventory_reserved
        dep_ids: [payment_processed]
        timeout: 500ms
      - id: order_total_matches
        type: assert
        dep_ids: [inventory_reserved]
        description: charged total equals the items
"""


def test_define_flow_accepts_ids_mappings_and_flow_nodes(clean_botanu):
    flow = define_flow(
        "checkout",
        [
            "pay",
            {"id": "stock", "deps": ["pay"], "timeout": "5s"},
            FlowNode("total", ("stock",), 1.0, "assert"),
        ],
        timeout=30,
    )
    assert isinstance(flow, Flow)
    assert [node.id for node in flow.nodes] == ["pay", "stock", "total"]
    assert flow.node("stock") == FlowNode("stock", ("pay",), 5.0)
    assert flow.timeout == 30.0
    assert declared_flows() == [flow]


@pytest.mark.parametrize(
    ("nodes", "message"),
    [
        ([], "has no nodes"),
        (["a", "a"], "duplicate node id(s) a"),
        ([{"id": "a", "dep_ids": ["ghost"]}], "depends on undeclared node(s) ghost"),
        ([{"id": "a", "dep_ids": ["b"]}, {"id": "b", "dep_ids": ["a"]}], "dependency cycle a -> b -> a"),
        ([{"id": "a", "timeout": "soon"}], "timeout must be seconds"),
        ([{"id": "a", "timeout": -1}], "timeout must be a positive duration"),
        ([{"id": "a", "type": "check"}], "type must be 'act' or 'assert'"),
        ([{"id": "a", "validator": "lambda d, c: True"}], "unknown node field(s) validator"),
        ("a", "nodes must be a list"),
    ],
)
def test_bad_declarations_warn_and_declare_nothing(clean_botanu, caplog, nodes, message):
    with caplog.at_level(logging.WARNING, logger="botanu"):
        assert define_flow("f", nodes) is None
    assert message in caplog.text
    assert declared_flows() == []


def test_bad_declaration_raises_in_strict_mode(clean_botanu):
    from botanu._safety import set_strict

    set_strict(True)
    with pytest.raises(botanu.BotanuUsageError, match="dependency cycle"):
        define_flow("f", [{"id": "a", "dep_ids": ["a"]}])


def test_load_flows_from_yaml(clean_botanu, tmp_path):
    path = tmp_path / "flows.yaml"
    path.write_text(YAML)
    (flow,) = load_flows(path)
    assert flow.name == "checkout" and flow.timeout == 120.0
    assert flow.node("inventory_reserved") == FlowNode("inventory_reserved", ("payment_processed",), 0.5)
    assert flow.node("order_total_matches").description == "charged total equals the items"
    assert declared_flows() == [flow]


@pytest.mark.parametrize(
    "text",
    [
        "flows:\n  checkout:\n    nodes: [a, {id: b, dep_ids: [a]}]\n",
        "flows:\n  checkout: [a, {id: b, dep_ids: [a]}]\n",
        "name: checkout\nnodes:\n  a:\n  b: [a]\n",
        "flow: checkout\nnodes:\n  a: {}\n  b: {dep_ids: [a]}\n",
        "- name: checkout\n  nodes: [a, {id: b, deps: [a]}]\n",
    ],
)
def test_other_yaml_shapes(clean_botanu, tmp_path, text):
    path = tmp_path / "flows.yml"
    path.write_text(text)
    (flow,) = load_flows(path)
    assert flow.name == "checkout"
    assert [(node.id, node.dep_ids) for node in flow.nodes] == [("a", ()), ("b", ("a",))]


def test_json_files_need_no_pyyaml(clean_botanu, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "yaml", None)  # as if PyYAML were not installed
    path = tmp_path / "flows.json"
    path.write_text(json.dumps({"flows": [{"name": "f", "nodes": ["a"]}]}))
    assert [flow.name for flow in load_flows(path)] == ["f"]


def test_missing_pyyaml_gives_a_clear_message(clean_botanu, tmp_path, monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, "yaml", None)
    path = tmp_path / "flows.yaml"
    path.write_text(YAML)
    with caplog.at_level(logging.WARNING, logger="botanu"):
        assert load_flows(path) == []
    assert "needs PyYAML" in caplog.text and "pip install 'botanu[flows]'" in caplog.text


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("flows: 3\n", "'flows' must be a list or a mapping"),
        ("hello: world\n", "expected 'flows:' or a single flow"),
        ("flows:\n  - {name: a, nodes: [x]}\n  - {name: a, nodes: [y]}\n", "declared twice: a"),
        ("flows:\n  - {name: a, nodes: [x], owner: me}\n", "unknown flow field(s) owner"),
        ("flows: [\n", "not valid YAML"),
    ],
)
def test_invalid_files_warn_and_declare_nothing(clean_botanu, tmp_path, caplog, text, message):
    path = tmp_path / "flows.yaml"
    path.write_text(text)
    with caplog.at_level(logging.WARNING, logger="botanu"):
        assert load_flows(path) == []
    assert message in caplog.text
    assert declared_flows() == []


def test_missing_file_warns(clean_botanu, tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="botanu"):
        assert load_flows(tmp_path / "nope.yaml") == []
    assert "No such file" in caplog.text

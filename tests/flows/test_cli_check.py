"""``botanu flows check``: verdicts from spans recorded by the loopback collector, run as a real command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time

import pytest
from google.protobuf.json_format import MessageToDict

import botanu
from botanu.flows import act, assert_, define_flow
from botanu.flows._offline import check_spans
from botanu.flows._otlp_json import OTLPJSONError, read_spans

FLOWS_YAML = """
flows:
  - name: checkout
    nodes:
      - id: payment
      - id: inventory
        dep_ids: [payment]
        timeout: 10ms
      - id: total
        type: assert
        dep_ids: [inventory]
"""


def botanu_cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "botanu.cli", "flows", "check", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


def record(receiver, tmp_path) -> str:
    botanu.force_flush(5)
    path = tmp_path / "spans.jsonl"
    path.write_text(receiver.to_otlp_json() + "\n")
    return str(path)


def test_check_prints_each_runs_verdict_and_fails_on_failed_runs(botanu_init, otlp_receiver, tmp_path):
    botanu_init()
    with botanu.event(event_id="o1", customer_id="c", workflow="Checkout"):
        act("payment", "checkout", "run-pass", {"amount": 5})
        act("inventory", "checkout", "run-pass")
        assert_("total", "checkout", "run-pass", {"total": 5}, validator=lambda data, ctx: True)
    act("payment", "checkout", "run-fail")
    act("inventory", "checkout", "run-fail")
    assert_("total", "checkout", "run-fail", {"total": 4}, validator=lambda data, ctx: data["total"] == 5)
    act("payment", "checkout", "run-stuck")  # inventory never comes
    spans = record(otlp_receiver, tmp_path)
    flows_file = tmp_path / "flows.yaml"
    flows_file.write_text(FLOWS_YAML)
    time.sleep(0.02)  # let the 10 ms inventory timeout pass

    result = botanu_cli(spans, "--flows", str(flows_file))
    assert result.returncode == 1, result.stderr
    out = result.stdout
    assert "checkout  run run-pass  PASSED" in out
    assert "checkout  run run-fail  FAILED" in out
    assert "checkout  run run-stuck  FAILED" in out
    assert "3 run(s): 1 passed, 2 failed, 0 running, 0 skipped" in out
    table = out.split("checkout  run run-fail  FAILED")[1].split("\n\n")[0].splitlines()
    assert table[1].split() == ["NODE", "TYPE", "STATUS", "DETAIL"]
    assert table[2].split() == ["payment", "act", "passed"]
    assert table[4].split()[:3] == ["total", "assert", "failed"] and "validator returned False" in table[4]
    stuck = out.split("checkout  run run-stuck  FAILED")[1].split("\n\n")[0]
    assert "did not arrive within 10ms after its dependencies arrived" in stuck
    assert "dependency inventory did not happen" in stuck

    # Without declarations the graph comes from the events' dep_ids: the stuck run looks fine.
    result = botanu_cli(spans)
    assert result.returncode == 1
    assert "checkout  run run-stuck  PASSED" in result.stdout


def test_all_passing_runs_exit_zero_and_running_is_not_failure(botanu_init, otlp_receiver, tmp_path):
    botanu_init()
    act("payment", "checkout", "r1")
    act("inventory", "checkout", "r1", dep_ids=["payment"])
    act("a", "other", "r2")
    act("b", "other", "r2", dep_ids=["a"])
    spans = record(otlp_receiver, tmp_path)
    flows_file = tmp_path / "flows.json"
    flows_file.write_text(
        json.dumps(
            {
                "flows": [
                    {
                        "name": "other",
                        "nodes": ["a", {"id": "b", "dep_ids": ["a"]}, {"id": "c", "dep_ids": ["b"]}],
                    }
                ]
            }
        )
    )
    result = botanu_cli(spans, "--flows", str(flows_file))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "checkout  run r1  PASSED" in result.stdout
    assert "other  run r2  RUNNING" in result.stdout  # c has no timeout: it may still come
    result = botanu_cli(spans, "--flows", str(flows_file), "--complete")
    assert result.returncode == 1
    assert "never arrived" in result.stdout


def test_flows_across_services_are_checked_together(botanu_init, otlp_receiver, tmp_path):
    botanu_init()
    # "Service A" is another process exporting to the same collector.
    service_a = textwrap.dedent(f"""
        import botanu
        from botanu.flows import act
        botanu.init(service_name="payments", endpoint={otlp_receiver.endpoint!r}, instrumentations=False)
        act("payment", "checkout", "order-9", {{"amount": 5}})
        botanu.shutdown(5)
    """)
    subprocess.run([sys.executable, "-c", service_a], check=True, timeout=60)
    # "Service B" (this process) continues the same flow run.
    act("inventory", "checkout", "order-9", dep_ids=["payment"])
    assert_("total", "checkout", "order-9", dep_ids=["inventory"], validator=lambda data, ctx: True)
    spans = record(otlp_receiver, tmp_path)
    services = {span.resource.get("service.name") for span in otlp_receiver.spans()}
    assert "payments" in services and len(services) == 2
    result = botanu_cli(spans, "--flows", str(_write(tmp_path, FLOWS_YAML)))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "checkout  run order-9  PASSED" in result.stdout


def test_filtered_nodes_reported_by_verdict_spans_are_skipped_offline(botanu_init, otlp_receiver, tmp_path):
    botanu_init()
    define_flow("signup", ["account", {"id": "loyalty", "dep_ids": ["account"], "timeout": "10ms"}])
    act("account", "signup", "u1")
    act("loyalty", "signup", "u1", filter=False)
    spans = record(otlp_receiver, tmp_path)
    flows_file = _write(
        tmp_path, "flows:\n  signup: [account, {id: loyalty, dep_ids: [account], timeout: 10ms}]\n"
    )
    time.sleep(0.02)
    result = botanu_cli(spans, "--flows", str(flows_file))
    assert result.returncode == 0, result.stdout
    assert "signup  run u1  PASSED" in result.stdout
    assert "skipped  filtered" in result.stdout


def test_unreadable_input_exits_2(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"resourceSpans": []}\nnot json\n')
    result = botanu_cli(str(bad))
    assert result.returncode == 2
    assert "bad.jsonl:2: not JSON" in result.stderr
    result = botanu_cli(str(tmp_path / "missing.jsonl"))
    assert result.returncode == 2 and "No such file" in result.stderr
    empty = _write(tmp_path, "")
    result = botanu_cli(str(empty))
    assert result.returncode == 0 and "no flow runs found" in result.stdout


def test_missing_pyyaml_for_a_yaml_flows_file_exits_2(tmp_path):
    spans = _write(tmp_path, "")
    flows_file = tmp_path / "flows.yaml"
    flows_file.write_text(FLOWS_YAML)
    code = (
        "import sys; sys.modules['yaml'] = None\n"
        "from botanu.cli import main\n"
        f"sys.exit(main(['flows', 'check', {str(spans)!r}, '--flows', {str(flows_file)!r}]))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "needs PyYAML" in result.stderr and "botanu[flows]" in result.stderr


def test_flows_without_subcommand_prints_help():
    result = subprocess.run(
        [sys.executable, "-m", "botanu.cli", "flows"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ},
    )
    assert result.returncode == 2 and "check" in result.stdout


# --------------------------------------------------------------------------- the OTLP/JSON reader


def _write(tmp_path, text: str):
    path = tmp_path / f"file{len(list(tmp_path.iterdir()))}.txt"
    path.write_text(text)
    return path


@pytest.fixture
def recorded(botanu_init, otlp_receiver):
    botanu_init()
    act("a", "f", "r1", {"n": 1})
    assert_("b", "f", "r1", dep_ids=["a"], validator=lambda data, ctx: False)
    botanu.force_flush(5)
    return [r.request for r in otlp_receiver.accepted()]


def _statuses(spans) -> dict:
    (verdict,) = check_spans(spans, {})
    return {node.node_id: (node.status, node.reason) for node in verdict.nodes}


EXPECTED = {"a": ("passed", None), "b": ("failed", "validator returned False")}


def test_reader_accepts_a_single_json_document(recorded):
    requests = [MessageToDict(request) for request in recorded]
    document = json.dumps(requests[0] if len(requests) == 1 else requests, indent=2)
    assert _statuses(read_spans(document)) == EXPECTED


def test_reader_accepts_proto_field_names_and_spec_hex_ids(recorded):
    lines = []
    for request in recorded:
        message = MessageToDict(request, preserving_proto_field_name=True)
        for resource_spans in message["resource_spans"]:
            for scope_spans in resource_spans["scope_spans"]:
                for span in scope_spans["spans"]:
                    span["trace_id"] = "0" * 32  # OTLP/JSON spells ids in hex, protobuf JSON in base64
                    span["status"] = (
                        {"code": 2, "message": span.get("status", {}).get("message", "")}
                        if span.get("status", {}).get("code")
                        else {}
                    )
        lines.append(json.dumps(message))
    assert _statuses(read_spans("\n".join(lines))) == EXPECTED


def test_reader_rejects_other_json():
    with pytest.raises(OTLPJSONError, match="not an OTLP trace export"):
        read_spans('{"hello": "world"}')


@pytest.mark.parametrize(
    "document",
    [
        '{"resourceSpans": {"a": 1}}',
        '{"resourceSpans": ["x"]}',
        '{"resourceSpans": [{"scopeSpans": {"spans": []}}]}',
        '{"resourceSpans": [{"scopeSpans": [{"spans": "none"}]}]}',
    ],
)
def test_malformed_structure_exits_2_naming_the_file(tmp_path, document):
    path = _write(tmp_path, document)
    result = botanu_cli(str(path))
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"{path}: malformed OTLP/JSON" in result.stderr
    assert "Traceback" not in result.stderr


def test_protobuf_bodies_spool_files_and_stdin_are_read_and_checked_together(
    botanu_init, otlp_receiver, tmp_path
):
    # Service A had no collector: its spans sit in its spool as botanu spool files.
    spool = tmp_path / "payments-spool"
    service_a = textwrap.dedent("""
        import botanu
        from botanu.flows import act
        botanu.init(service_name="payments", endpoint="http://127.0.0.1:9/v1/traces", instrumentations=False)
        act("payment", "checkout", "order-7", {"amount": 5})
        botanu.shutdown(5)
    """)
    env = {**os.environ, "BOTANU_SPOOL_DIR": str(spool)}
    subprocess.run([sys.executable, "-c", service_a], check=True, timeout=60, env=env, capture_output=True)
    spooled = sorted(str(path) for path in spool.rglob("*.otlp"))
    assert spooled, "service A should have spooled its spans"

    # Service B reached its collector: its raw request bodies (gzip protobuf) are kept as files.
    botanu_init()
    act("inventory", "checkout", "order-7", dep_ids=["payment"])
    assert_("total", "checkout", "order-7", dep_ids=["inventory"], validator=lambda data, ctx: True)
    botanu.force_flush(5)
    bodies = []
    for number, body in enumerate(otlp_receiver.raw_bodies()):
        path = tmp_path / f"body{number}.pb"
        path.write_bytes(body)
        bodies.append(str(path))
    flows_file = str(_write(tmp_path, FLOWS_YAML))

    result = botanu_cli(*spooled, *bodies, "--flows", flows_file, "--complete")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "checkout  run order-7  PASSED" in result.stdout
    # The spool directory itself stands for the files in it.
    result = botanu_cli(str(spool), *bodies, "--flows", flows_file, "--complete")
    assert result.returncode == 0 and "checkout  run order-7  PASSED" in result.stdout

    # Without service A's spool, payment never arrived: the same run fails.
    result = botanu_cli(*bodies, "--flows", flows_file, "--complete")
    assert result.returncode == 1 and "checkout  run order-7  FAILED" in result.stdout

    # '-' reads the same bytes from standard input.
    with open(bodies[0], "rb") as body:
        piped = subprocess.run(
            [sys.executable, "-m", "botanu.cli", "flows", "check", "-", "--complete"],
            stdin=body,
            capture_output=True,
            timeout=60,
        )
    assert piped.returncode == 1 and b"checkout  run order-7" in piped.stdout


def test_unknown_binary_and_damaged_spool_files_exit_2_naming_the_file(tmp_path):
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\xff\xfe\x00garbage\x80")
    result = botanu_cli(str(junk))
    assert result.returncode == 2
    assert f"{junk}: neither OTLP/JSON nor an OTLP protobuf trace export" in result.stderr
    damaged = tmp_path / "damaged.otlp"
    damaged.write_bytes(b"BOTANUS1" + b"\x00" * 40)
    result = botanu_cli(str(damaged))
    assert result.returncode == 2 and f"{damaged}: damaged botanu spool file" in result.stderr


def test_a_spool_directory_skips_its_corrupt_folder_and_reads_leased_files(tmp_path):
    spool = tmp_path / "spool"
    service = textwrap.dedent("""
        import botanu
        from botanu.flows import act
        botanu.init(endpoint="http://127.0.0.1:9/v1/traces", instrumentations=False)
        act("payment", "checkout", "order-8")
        botanu.shutdown(5)
        act("inventory", "checkout", "order-8", dep_ids=["payment"])
    """)
    env = {**os.environ, "BOTANU_SPOOL_DIR": str(spool)}
    for _ in range(2):  # two processes, two spool files
        subprocess.run(
            [sys.executable, "-c", service.replace("botanu.shutdown(5)\\n", "")], env=env, timeout=60
        )
    files = sorted(spool.rglob("*.otlp"))
    assert len(files) == 2
    # One is being replayed by some process right now; a damaged file sits in corrupt/.
    files[0].rename(files[0].with_name(files[0].name + ".lease-host-1234"))
    corrupt = files[1].parent / "corrupt"
    corrupt.mkdir()
    (corrupt / "0000000000000001-aaaaaaaaaaaa-0000000001-2.otlp").write_bytes(b"BOTANUS1" + b"\\x00" * 40)
    result = botanu_cli(str(spool), "--complete")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "checkout  run order-8  PASSED" in result.stdout

"""`botanu doctor` against a live loopback collector and a dead port."""

from __future__ import annotations

import socket

from tests.zero_code._support import BIN, clean_env, run


def test_doctor_live_collector(tmp_path, otlp_receiver):
    env = clean_env(
        BOTANU_ENDPOINT=otlp_receiver.endpoint,
        BOTANU_API_KEY="sk-doctor-secret-123",
        OTEL_PYTHON_DISABLED_INSTRUMENTATIONS="urllib3",
    )
    result = run([str(BIN / "botanu"), "doctor"], env, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "OK: the collector accepted it (HTTP 200)" in out
    assert f"'{otlp_receiver.endpoint}'  [BOTANU_ENDPOINT]" in out
    assert "sk-doctor-secret-123" not in out + result.stderr
    assert "distro        botanu" in out or "distro        distro" in out
    assert "urllib3                      skipped: OTEL_PYTHON_DISABLED_INSTRUMENTATIONS" in out
    assert "requests                     would load" in out
    span = otlp_receiver.wait_for_spans(1)[0]
    assert span.name == "botanu.doctor/test-span"
    assert otlp_receiver.requests[0].headers["authorization"] == "Bearer sk-doctor-secret-123"


def test_doctor_dead_port(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = clean_env(OTEL_PYTHON_DISTRO="botanu")
    result = run(
        [str(BIN / "botanu"), "doctor", "--endpoint", f"http://127.0.0.1:{port}/v1/traces", "--timeout", "1"],
        env,
        tmp_path,
    )
    assert result.returncode == 1
    assert "FAILED: connection refused" in result.stdout
    assert "distro        botanu" in result.stdout
    assert "Traceback" not in result.stderr

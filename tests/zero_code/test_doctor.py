"""`botanu doctor` against a live loopback collector and a dead port."""

from __future__ import annotations

import importlib.util
import socket

import pytest

from tests.support.otlp_receiver import Reply
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
    assert "urllib3                      off (disabled by OTEL_PYTHON_DISABLED_INSTRUMENTATIONS)" in out
    assert "requests                     on\n" in out
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


def _section(out: str, heading: str) -> str:
    """The lines of the doctor's report from ``heading`` to the next blank line."""
    return out.split(heading, 1)[1].split("\n\n", 1)[0]


def test_doctor_reports_a_rejected_test_span(tmp_path, otlp_receiver):
    """HTTP 200 with partial_success rejected_spans > 0 is not an accepted span."""
    otlp_receiver.default = Reply(200, rejected_spans=1, error_message="span too old for this tenant")
    result = run([str(BIN / "botanu"), "doctor"], clean_env(BOTANU_ENDPOINT=otlp_receiver.endpoint), tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "OK:" not in result.stdout
    assert (
        "FAILED: the collector answered HTTP 200 but rejected the test span: span too old for this tenant"
        in result.stdout
    )
    assert len(otlp_receiver.requests) == 1


def test_doctor_masks_a_secret_in_the_endpoint_url(tmp_path, otlp_receiver):
    endpoint = otlp_receiver.endpoint + "?api-key=SECRETKEY123&region=eu"
    result = run([str(BIN / "botanu"), "doctor"], clean_env(BOTANU_ENDPOINT=endpoint), tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SECRETKEY123" not in result.stdout + result.stderr
    masked = otlp_receiver.endpoint + "?api-key=[REDACTED]&region=eu"
    assert f"endpoint                     '{masked}'  [BOTANU_ENDPOINT]" in result.stdout
    assert f"Sending a test span to {masked} ..." in result.stdout
    # The test span itself went to the real URL, secret included.
    assert otlp_receiver.requests[0].path == "/v1/traces?api-key=SECRETKEY123&region=eu"


def test_doctor_instrumentor_plans_follow_botanus_settings(tmp_path, otlp_receiver):
    env = clean_env(
        OTEL_PYTHON_DISTRO="botanu",
        BOTANU_ENDPOINT=otlp_receiver.endpoint,
        BOTANU_DISABLED_INSTRUMENTATIONS="httpx",
        OTEL_PYTHON_DISABLED_INSTRUMENTATIONS="urllib3",
    )
    result = run([str(BIN / "botanu"), "doctor"], env, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "configurator  botanu (selected by botanu's distro)" in out
    assert "would NOT be used" not in out
    instrument = _section(out, "Instrumentors under opentelemetry-instrument (distro botanu):\n")
    disabled_by = "off (disabled by BOTANU_DISABLED_INSTRUMENTATIONS + OTEL_PYTHON_DISABLED_INSTRUMENTATIONS)"
    assert f"  httpx                        {disabled_by}" in instrument
    assert f"  urllib3                      {disabled_by}" in instrument
    assert "  flask                        on" in instrument
    assert "  requests                     on" in instrument
    # botanu.init() leaves the web frameworks alone unless listed: shown where it differs.
    init = _section(out, "Instrumentors under botanu.init() (where it differs):\n")
    assert "  flask                        off (not one of botanu.init()'s defaults" in init
    assert "requests" not in init and "httpx " not in init


def test_doctor_with_the_stock_distro_first_says_botanu_is_not_used(tmp_path, otlp_receiver):
    env = clean_env(
        OTEL_PYTHON_DISTRO="distro", BOTANU_ENDPOINT=otlp_receiver.endpoint, BOTANU_INSTRUMENTATIONS="0"
    )
    result = run([str(BIN / "botanu"), "doctor"], env, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "botanu's pipeline would NOT be used: set OTEL_PYTHON_DISTRO=botanu" in out
    # The stock distro ignores BOTANU_INSTRUMENTATIONS; botanu.init() honours it.
    instrument = _section(out, "which applies only OTEL_PYTHON_DISABLED_INSTRUMENTATIONS):\n")
    assert "  requests                     on" in instrument
    init = _section(out, "Instrumentors under botanu.init() (where it differs):\n")
    assert "  requests                     off (not listed in BOTANU_INSTRUMENTATIONS)" in init


@pytest.mark.skipif(importlib.util.find_spec("httpx2") is not None, reason="needs httpx2 to be absent")
def test_doctor_reports_a_missing_library(tmp_path, otlp_receiver):
    """The httpx instrumentation package also publishes `httpx2`, whose library is not installed here."""
    env = clean_env(OTEL_PYTHON_DISTRO="botanu", BOTANU_ENDPOINT=otlp_receiver.endpoint)
    result = run([str(BIN / "botanu"), "doctor"], env, tmp_path)
    assert "  httpx2                       skipped: library not installed (httpx2" in result.stdout
    assert "  httpx                        on" in result.stdout

"""examples/checkout_flow.py runs as documented and its verdicts reach the collector."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "checkout_flow.py"


def run_example(endpoint: str) -> tuple[subprocess.CompletedProcess, float]:
    env = {**os.environ, "BOTANU_ENDPOINT": endpoint}
    began = time.monotonic()
    result = subprocess.run(
        [sys.executable, str(EXAMPLE)], capture_output=True, text=True, timeout=60, env=env
    )
    return result, time.monotonic() - began


def test_checkout_example_exports_both_verdicts(otlp_receiver):
    result, _ = run_example(otlp_receiver.endpoint)
    assert result.returncode == 0, result.stderr
    assert "botanu.flow.run" in result.stderr and "checkout.order_total_matches" in result.stderr  # the tree
    verdicts = {
        span.attributes["botanu.customer_id"]: span
        for span in otlp_receiver.spans()
        if span.name == "botanu.flow.run"
    }
    assert verdicts["cus_42"].attributes["botanu.flow.verdict"] == "passed"
    assert verdicts["cus_77"].attributes["botanu.flow.verdict"] == "failed"
    assert verdicts["cus_77"].attributes["botanu.flow.nodes.failed"] == ("order_total_matches",)


def test_checkout_example_finishes_quickly_without_a_collector(tmp_path):
    result, seconds = run_example("http://127.0.0.1:9/v1/traces")  # nothing listens on the discard port
    assert result.returncode == 0, result.stderr
    assert "trace " in result.stderr and seconds < 15

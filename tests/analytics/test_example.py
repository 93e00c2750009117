"""examples/product_analytics.py runs as documented and its spans reach the collector."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "product_analytics.py"


def test_product_analytics_example(otlp_receiver):
    env = {**os.environ, "BOTANU_ENDPOINT": otlp_receiver.endpoint}
    result = subprocess.run(
        [sys.executable, str(EXAMPLE)], capture_output=True, text=True, timeout=60, env=env
    )
    assert result.returncode == 0, result.stderr
    assert "botanu.track/signup_completed" in result.stderr  # the printed tree
    spans = otlp_receiver.spans()
    chat = [s for s in spans if s.name == "botanu.track/question_asked"]
    assert {s.attributes["botanu.chat_id"] for s in chat} == {"chat_1", "chat_2"}
    assert {s.attributes["enduser.id"] for s in chat} == {"user_123"}
    backfilled = [s for s in spans if s.name == "botanu.track/record_processed"]
    assert len(backfilled) == 2 and len({s.start_ns for s in backfilled}) == 1
    assert any(s.name == "botanu.track/lambda_invoked" for s in spans)

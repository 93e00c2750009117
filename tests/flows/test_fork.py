"""A forked child does not report its parent's flow runs (the parent does, once)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent("""
    import os, sys
    import botanu
    from botanu.flows import act, define_flow
    botanu.init(endpoint=sys.argv[1], instrumentations=False)
    define_flow("checkout", ["pay", {"id": "ship", "dep_ids": ["pay"]}])
    act("pay", "checkout", "parent-run")  # pending: ship has not come
    pid = os.fork()
    if pid == 0:
        act("pay", "checkout", "child-run")
        sys.exit(0)  # atexit reports the child's own pending run
    os.waitpid(pid, 0)
""")


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_each_run_gets_one_verdict_from_the_process_that_saw_it(otlp_receiver, tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, otlp_receiver.endpoint],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "BOTANU_SPOOL_DIR": str(tmp_path / "spool")},
    )
    assert result.returncode == 0, result.stderr
    otlp_receiver.wait_for(lambda r: len([s for s in r.spans() if s.name == "botanu.flow.run"]) >= 2)
    verdicts = [s.attributes["botanu.run_id"] for s in otlp_receiver.spans() if s.name == "botanu.flow.run"]
    assert sorted(verdicts) == ["child-run", "parent-run"]

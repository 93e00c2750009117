"""botanu.init() does not import the LLM SDKs (seconds of start-up) for an app that has not."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_init_leaves_openai_and_anthropic_unimported_until_the_app_imports_them():
    code = textwrap.dedent(
        """
        import sys, botanu
        botanu.init(endpoint="http://127.0.0.1:9/v1/traces", spool=False)
        print(sorted(name for name in ("openai", "anthropic") if name in sys.modules))
        import openai, anthropic
        wrapped = [
            type(module._base_client.SyncAPIClient.__dict__["request"]).__name__
            for module in (openai, anthropic)
        ]
        print(wrapped)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    before, after = result.stdout.strip().splitlines()
    assert before == "[]"
    assert after == "['FunctionWrapper', 'FunctionWrapper']"  # instrumented on import

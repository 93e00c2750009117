"""``botanu run`` hands the program its own arguments untouched and passes its exit code back."""

from __future__ import annotations

import json
import sys

from tests.zero_code._support import BIN, clean_env, run


def test_program_options_that_look_like_instrument_options_reach_the_program(tmp_path):
    # "--config" would be read by opentelemetry-instrument as an abbreviation of "--configurator".
    script = "import json, sys; print(json.dumps(sys.argv[1:])); sys.exit(7)"
    result = run(
        [str(BIN / "botanu"), "run", "--", sys.executable, "-c", script, "--config=x", "--trace", "--log"],
        clean_env(BOTANU_ENDPOINT="http://127.0.0.1:9/v1/traces"),
        tmp_path,
    )
    assert result.returncode == 7, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == ["--config=x", "--trace", "--log"]

"""Run every ratio benchmark in turn (``make bench``); each prints its own figures."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHMARKS = (
    "bench_core.py",
    "bench_redaction.py",
    "bench_delivery.py",
    "bench_export_cpu.py",
    "bench_burst.py",
    "bench_logs.py",
    "bench_cost.py",
    "bench_llm.py",
)


def main() -> int:
    failed = 0
    for name in BENCHMARKS:
        print(f"== {name}", flush=True)
        failed |= subprocess.call([sys.executable, str(HERE / name)]) != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

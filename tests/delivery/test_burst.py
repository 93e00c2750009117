"""A burst while the collector is down goes to the spool, not to the floor."""

from __future__ import annotations

import json
from collections import Counter

from tests.delivery._faults import endpoint_for, free_port, receiver_on
from tests.delivery.conftest import run_script
from tests.support.otlp_receiver import Reply

# 1500 runs with a step each (3000 spans), as fast as the app can make them; stats at exit.
BURST = """
import atexit, json, sys, botanu
atexit.register(lambda: print(json.dumps(botanu.stats()), flush=True))
endpoint, spool_dir, runs, tag = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
botanu.init(endpoint=endpoint, spool_dir=spool_dir, instrumentations=False, shutdown_timeout=5.0)
for i in range(runs):
    with botanu.event(event_id=f"{tag}-{i}", customer_id="c", workflow="Burst"):
        with botanu.step("s"):
            pass
"""

WAIT_FOR_EMPTY_SPOOL = """
import time
from pathlib import Path
deadline = time.monotonic() + 20
while time.monotonic() < deadline and any(".otlp" in p.name for p in Path(spool_dir).glob("*/*.otlp*")):
    time.sleep(0.05)
"""


def last_json(stdout: str) -> dict:
    return json.loads(stdout.strip().splitlines()[-1])


def test_3000_spans_of_a_burst_with_the_collector_down_reach_it_once_later(tmp_path):
    port = free_port()
    spool_dir = tmp_path / "spool"
    first = run_script(BURST, endpoint_for(port), str(spool_dir), "1500", "burst")
    assert first.returncode == 0, first.stderr
    stats = last_json(first.stdout)
    assert stats["balanced"], stats
    assert stats["dropped"] == {}, stats  # no queue_full: the overflow went to disk
    assert stats["spooled"] == 3000, stats
    assert "export queue is full" not in first.stderr

    receiver = receiver_on(port)
    try:
        second = run_script(BURST + WAIT_FOR_EMPTY_SPOOL, endpoint_for(port), str(spool_dir), "1", "later")
        assert second.returncode == 0, second.stderr
        stats = last_json(second.stdout)
        assert stats["balanced"] and stats["replayed"] == 3000, stats
        spans = receiver.wait_for_spans(3002, timeout=10)
    finally:
        receiver.close()
    counts = Counter(s.span_id for s in spans)
    assert len(counts) == 3002 and set(counts.values()) == {1}, "each span exactly once"
    assert sum(1 for s in spans if s.attributes.get("botanu.event_id", "").startswith("burst-")) == 3000


def test_without_a_spool_the_overflow_is_dropped_and_counted(otlp_receiver, tmp_path):
    otlp_receiver.default = Reply(200, delay=3)  # a collector that is slow to answer: the queue fills
    script = BURST.replace("spool_dir=spool_dir,", "spool=False,").replace(
        "shutdown_timeout=5.0", "shutdown_timeout=1.0"
    )
    result = run_script(script, otlp_receiver.endpoint, str(tmp_path / "unused"), "3000", "nospool")
    assert result.returncode == 0, result.stderr
    stats = last_json(result.stdout)
    assert stats["balanced"], stats
    assert stats["dropped"].get("queue_full", 0) > 0, stats  # twice the queue is not the bound: the queue is
    assert stats["spooled"] == 0

"""Log records get the spans' delivery guarantees: across a collector outage, at exit, in the books."""

from __future__ import annotations

import json
import time
from collections import Counter

from botanu.export import Spool
from tests.delivery._faults import endpoint_for, free_port, receiver_on
from tests.delivery.conftest import run_script
from tests.support.otlp_receiver import Reply

# Logs `count` records (each inside a run, so spans and records share the spool), prints stats at exit.
EMIT = """
import atexit, json, logging, sys, botanu
atexit.register(lambda: print(json.dumps(botanu.stats()), flush=True))
endpoint, spool_dir, count, tag = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
settings = botanu.init(endpoint=endpoint, spool_dir=spool_dir, instrumentations=False, shutdown_timeout=3.0)
log = logging.getLogger("worker")
for i in range(count):
    with botanu.event(event_id=f"{tag}-{i}", customer_id="c", workflow="Logs"):
        log.warning("record %s-%d", tag, i)
"""

WAIT_FOR_EMPTY_SPOOLS = """
import time
from pathlib import Path
deadline = time.monotonic() + 15
while time.monotonic() < deadline and any(".otlp" in p.name for p in Path(spool_dir).glob("*/*.otlp*")):
    time.sleep(0.05)
"""


def last_json(stdout: str) -> dict:
    return json.loads(stdout.strip().splitlines()[-1])


def test_500_records_across_an_outage_are_delivered_once_by_a_later_process(tmp_path):
    port = free_port()
    spool_dir = tmp_path / "spool"
    first = run_script(EMIT, endpoint_for(port), str(spool_dir), "500", "first")
    assert first.returncode == 0, first.stderr
    assert "500 log record(s) were not delivered this run: 500 kept in the spool" in first.stderr
    books = last_json(first.stdout)["logs"]
    assert books["balanced"] and books["spooled"] == 500 and books["dropped"] == {}, books
    logs_dir = next(d for d in spool_dir.iterdir() if Spool(d, signal="logs").span_count())
    assert Spool(logs_dir, signal="logs").span_count() == 500

    receiver = receiver_on(port)
    try:
        second = run_script(EMIT + WAIT_FOR_EMPTY_SPOOLS, endpoint_for(port), str(spool_dir), "3", "second")
        assert second.returncode == 0, second.stderr
        books = last_json(second.stdout)["logs"]
        assert books["balanced"], books
        assert (books["replayed"], books["spool_adopted"], books["exported"]) == (500, 500, 3), books
        bodies = Counter(r.body for r in receiver.wait_for_logs(503))
    finally:
        receiver.close()
    expected = {f"record first-{i}" for i in range(500)} | {f"record second-{i}" for i in range(3)}
    assert set(bodies) == expected
    assert set(bodies.values()) == {1}, "no record was sent twice"
    # The spans went through their own spool and arrived as well.
    assert len({s.attributes["botanu.event_id"] for s in receiver.spans()}) == 503


def test_exit_is_bounded_while_the_collector_hangs_and_records_are_spooled(otlp_receiver, tmp_path):
    otlp_receiver.default = Reply(200, delay=30)
    otlp_receiver.logs_default = Reply(200, delay=30)
    started = time.monotonic()
    result = run_script(EMIT, otlp_receiver.endpoint, str(tmp_path / "spool"), "50", "hang")
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert elapsed < 3 + 4, elapsed
    stats = last_json(result.stdout)
    assert stats["balanced"] and stats["logs"]["balanced"], stats
    assert stats["logs"]["spooled"] == 50 and stats["logs"]["dropped"] == {}, stats["logs"]


def test_a_collector_rejecting_some_records_is_counted(botanu_init, otlp_receiver, clean_logging):
    import logging

    import botanu

    otlp_receiver.script_logs([Reply(200, rejected_spans=2, error_message="bad record")])
    botanu_init()
    for index in range(5):
        logging.getLogger("shop").warning("r%d", index)
    assert botanu.force_flush(5) is False
    books = botanu.stats()["logs"]
    assert books["dropped"] == {"rejected_by_collector": 2} and books["exported"] == 3, books
    assert books["balanced"]


RECORD_BURST = """
import atexit, json, logging, sys, botanu
atexit.register(lambda: print(json.dumps(botanu.stats()), flush=True))
endpoint, spool_dir, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
botanu.init(endpoint=endpoint, spool_dir=spool_dir, instrumentations=False, shutdown_timeout=5.0)
log = logging.getLogger("burst")
for i in range(count):
    log.warning("burst record %d", i)
"""


def test_a_burst_of_records_during_an_outage_is_spooled_not_dropped(tmp_path):
    port = free_port()
    result = run_script(RECORD_BURST, endpoint_for(port), str(tmp_path / "spool"), "3000")
    assert result.returncode == 0, result.stderr
    books = last_json(result.stdout)["logs"]
    assert books["balanced"] and books["dropped"] == {} and books["spooled"] == 3000, books

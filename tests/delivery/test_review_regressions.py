"""Faults found in review: each once wedged flushes, replayed a damaged file, or deadlocked a child."""

from __future__ import annotations

import gzip
import os
import sys

import pytest

from botanu.export import Spool
from botanu.export import _spool_file as spool_format
from botanu.export._retry import parse_retry_after


def test_retry_after_with_a_non_ascii_digit_is_ignored_not_raised():
    assert parse_retry_after("\u00b2") is None  # "²".isdigit() is True, float("²") raises
    assert parse_retry_after("3") == 3.0


def test_a_flipped_header_flag_is_quarantined_not_replayed(tmp_path):
    spool = Spool(tmp_path)
    assert spool.put(gzip.compress(b"\x0a\x00" * 10), 3, gzipped=True) is None
    [name] = [n for n in os.listdir(tmp_path) if n.endswith(".otlp")]
    data = bytearray((tmp_path / name).read_bytes())
    data[8] ^= spool_format.FLAG_GZIP  # one bit of the flags byte
    (tmp_path / name).write_bytes(bytes(data))
    assert Spool(tmp_path).claim_oldest() is None
    assert (tmp_path / "corrupt").is_dir()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_a_child_forked_while_a_flow_lock_is_held_does_not_deadlock():
    from botanu import act, flows
    from botanu.flows._runs import tracker

    flows.define_flow("forked", [{"id": "a"}])
    tracker._lock.acquire()  # as if another thread were recording a node at fork() time
    try:
        pid = os.fork()
        if pid == 0:  # the child: act() must not wait for the parent's lock
            try:
                act("a", "forked", run_id="r-1", data={"x": 1})
            finally:
                os._exit(0)
    finally:
        tracker._lock.release()
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0


if sys.platform == "win32":  # pragma: no cover
    pytestmark = pytest.mark.skip("POSIX only")


@pytest.mark.parametrize(("status", "kept"), [(404, 3), (401, 3), (400, 0)])
def test_replay_keeps_files_when_the_endpoint_refuses_and_drops_them_when_the_payload_is_rejected(
    tmp_path, otlp_receiver, status, kept
):
    from botanu.export import OTLPHttpSpanExporter, Replayer
    from tests.support.otlp_receiver import Reply

    spool = Spool(tmp_path)
    for _ in range(3):
        assert spool.put(gzip.compress(b""), 1, gzipped=True) is None
    otlp_receiver.default = Reply(status)
    exporter = OTLPHttpSpanExporter(otlp_receiver.endpoint, spool=spool, timeout=2)
    replayer = Replayer(spool, exporter)
    while replayer.replay_one():
        pass
    exporter.shutdown()
    # A wrong endpoint or credentials must not empty the spool; a payload the collector rejects goes.
    assert len([n for n in os.listdir(tmp_path) if n.endswith(".otlp")]) == kept

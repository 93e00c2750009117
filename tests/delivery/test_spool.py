"""The spool on its own: whole files, bounds, corruption, leases shared between processes."""

from __future__ import annotations

import errno
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from unittest import mock

import pytest

from botanu import _stats
from botanu.export import Spool
from botanu.export import _spool_file as fmt
from botanu.export._spool import _host_tag, endpoint_key
from tests.delivery.conftest import ROOT, assert_accounted


def entries(directory: Path) -> list[Path]:
    """What a spool directory holds besides its writers' lock file (which stays, empty)."""
    return [p for p in directory.iterdir() if p.name != ".lock"]


@pytest.fixture(autouse=True)
def _fresh_counters(clean_botanu):
    yield


def put(spool: Spool, spans: int = 1, size: int = 100) -> str | None:
    """Spool a batch as the exporter would, counted as if it had come through the queue."""
    refused = spool.put(os.urandom(size), spans, gzipped=False)
    if refused is None:
        _stats.handled_directly(spans, spooled=spans)
    return refused


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


# --------------------------------------------------------------------------- format and atomic writes


def test_put_claim_complete_round_trip(tmp_path):
    spool = Spool(tmp_path)
    payload = os.urandom(300)
    assert spool.put(payload, 7, gzipped=True) is None
    _stats.handled_directly(7, spooled=7)
    [entry] = spool.files()
    assert entry.span_count == 7 and entry.writer == spool.writer
    assert (tmp_path / entry.name).stat().st_mode & 0o777 == 0o600
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    claim = spool.claim_oldest()
    assert claim is not None and claim.record.payload == payload and claim.record.gzipped
    assert spool.files() == [] and spool.span_count() == 7, "leased, still held"
    spool.complete(claim)
    assert entries(tmp_path) == []
    assert assert_accounted(spool)["replayed"] == 7


def test_files_are_claimed_oldest_first(tmp_path):
    spool = Spool(tmp_path)
    for spans in (1, 2, 3):
        put(spool, spans)
        time.sleep(0.002)
    order = []
    while (claim := spool.claim_oldest()) is not None:
        order.append(claim.span_count)
        spool.complete(claim)
    assert order == [1, 2, 3]


def test_decode_rejects_truncated_and_altered_files():
    data = fmt.encode(b"x" * 50, 3, 123, gzipped=False)
    assert fmt.decode(data).span_count == 3
    for broken in (data[:-1], data[:10], data[:-1] + b"y", b"NOTBOTANU" + data[9:]):
        with pytest.raises(fmt.CorruptSpoolFile):
            fmt.decode(broken)


def test_corrupt_files_are_moved_aside_counted_and_never_stop_replay(tmp_path, caplog):
    spool = Spool(tmp_path)
    put(spool, 2)
    [good] = spool.files()
    # Older than the good file: a file cut short, one with a flipped byte, one that never was a spool file.
    base = good.created_ms - 10_000
    names = [fmt.ready_name(base + n, "0" * 12, n, n + 3) for n in (1, 2, 3)]
    (tmp_path / names[0]).write_bytes(fmt.encode(b"z" * 40, 4, base + 1, gzipped=False)[:-5])
    flipped = bytearray(fmt.encode(b"q" * 40, 5, base + 2, gzipped=False))
    flipped[-1] ^= 0xFF
    (tmp_path / names[1]).write_bytes(bytes(flipped))
    (tmp_path / names[2]).write_bytes(b"garbage")
    fresh = Spool(tmp_path)
    fresh._writer = spool.writer  # the same process, so the good file is not adopted
    with caplog.at_level(logging.WARNING, logger="botanu"):
        claim = fresh.claim_oldest()
    assert claim is not None and claim.entry.name == good.name
    fresh.complete(claim)
    assert sorted(p.name for p in (tmp_path / "corrupt").iterdir()) == sorted(names)
    snap = assert_accounted(fresh)
    assert snap["spool_files_corrupt"] == 3
    # Another writer's names are believed only where the header agrees: not for the garbage file.
    assert snap["dropped"] == {"corrupt": 4 + 5}
    assert snap["spool_adopted"] == 9, "the damaged files came from another writer"
    assert snap["replayed"] == 2
    assert sum("damaged" in r.getMessage() for r in caplog.records) == 1


# --------------------------------------------------------------------------- bounds


def test_tiny_cap_evicts_oldest_and_counts_them(tmp_path):
    file_size = fmt.HEADER_SIZE + 1000
    spool = Spool(tmp_path, max_bytes=3 * file_size + 10)
    for _ in range(10):
        assert put(spool, spans=4, size=1000) is None
    files = spool.files()
    assert len(files) == 3
    assert sum((tmp_path / f.name).stat().st_size for f in files) <= spool.max_bytes
    assert [f.seq for f in files] == [8, 9, 10], "the newest are kept"
    snap = assert_accounted(spool)
    assert snap["dropped"] == {"spool_full": 7 * 4}
    # A single batch larger than the whole cap is refused, not written.
    assert put(spool, spans=9, size=5 * file_size) == "spool_full"


def test_cap_is_shared_by_writers_of_one_directory(tmp_path):
    file_size = fmt.HEADER_SIZE + 500
    first = Spool(tmp_path, max_bytes=4 * file_size)
    second = Spool(tmp_path, max_bytes=4 * file_size)
    for _ in range(4):
        put(first, size=500)
    put(second, size=500)  # must evict one of the first writer's files, adopting and dropping it
    assert len(first.files()) == 4
    snap = _stats.snapshot()
    assert snap["dropped"] == {"spool_full": 1} and snap["spool_adopted"] == 1


def test_files_older_than_max_age_are_dropped_as_too_old(tmp_path):
    spool = Spool(tmp_path, max_age=60)
    put(spool, 3)
    [entry] = spool.files()
    old_ms = int((time.time() - 120) * 1000)
    (tmp_path / entry.name).rename(tmp_path / fmt.ready_name(old_ms, entry.writer, entry.seq, 3))
    fresh = Spool(tmp_path, max_age=60)
    assert fresh.claim_oldest() is None
    assert entries(tmp_path) == []
    assert _stats.snapshot()["dropped"] == {"too_old": 3}


def test_unwritable_spool_dir_costs_a_warning_and_a_count(tmp_path, caplog):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    spool = Spool(blocker / "spool")
    with caplog.at_level(logging.WARNING, logger="botanu"):
        assert put(spool) == "spool_unwritable"
        assert put(spool) == "spool_unwritable"
    assert sum("cannot write to the spool" in r.getMessage() for r in caplog.records) == 1


def test_full_disk_costs_a_warning_leaves_no_partial_file(tmp_path, caplog):
    spool = Spool(tmp_path)
    real_write = os.write

    def no_space(fd, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    with caplog.at_level(logging.WARNING, logger="botanu"):
        with mock.patch("botanu.export._spool.os.write", no_space):
            assert put(spool) == "spool_unwritable"
    assert os.write is real_write
    assert entries(tmp_path) == [], "the temp file was removed"
    assert any("No space left" in r.getMessage() for r in caplog.records)
    assert put(spool) is None, "the spool works again once there is room"


# --------------------------------------------------------------------------- leases


def test_two_processes_never_claim_the_same_file(tmp_path):
    writer = Spool(tmp_path)
    for _ in range(6):
        put(writer, 1)
    one, two = Spool(tmp_path), Spool(tmp_path)
    seen = []
    while True:
        claims = [spool.claim_oldest() for spool in (one, two)]
        claims = [c for c in claims if c is not None]
        if not claims:
            break
        for claim, spool in zip(claims, (one, two), strict=False):
            seen.append(claim.entry.seq)
            spool.complete(claim)
    assert sorted(seen) == [1, 2, 3, 4, 5, 6]


def test_leases_of_dead_processes_are_recovered_live_ones_are_not(tmp_path):
    spool = Spool(tmp_path)
    for _ in range(3):
        put(spool, 1)
    names = [f.name for f in spool.files()]
    host = spool._host
    os.rename(tmp_path / names[0], tmp_path / fmt.lease_name(names[0], host, dead_pid()))
    os.rename(tmp_path / names[1], tmp_path / fmt.lease_name(names[1], host, os.getppid()))
    os.rename(tmp_path / names[2], tmp_path / fmt.lease_name(names[2], "other-host", 1))
    fresh = Spool(tmp_path)
    claim = fresh.claim_oldest()
    assert claim is not None and claim.entry.name == names[0], "the dead process's lease came back"
    fresh.complete(claim)
    assert fresh.claim_oldest() is None, "a live lease and another host's lease are left alone"
    # Past the TTL any lease is considered abandoned (pid reuse, a host that went away).
    old = time.time() - 3600
    for path in tmp_path.iterdir():
        os.utime(path, (old, old))
    expired = Spool(tmp_path, lease_ttl=600)
    recovered = []
    while (claim := expired.claim_oldest()) is not None:
        recovered.append(claim.entry.name)
        expired.complete(claim)
    assert sorted(recovered) == sorted(names[1:])


def test_abandoned_temp_files_are_never_read_and_cleaned_up(tmp_path):
    spool = Spool(tmp_path)
    stale = tmp_path / fmt.temp_name("a" * 12, 1, 123)
    stale.write_bytes(b"half a file")
    fresh_temp = tmp_path / fmt.temp_name("b" * 12, 1, 124)
    fresh_temp.write_bytes(b"being written")
    old = time.time() - 3600
    os.utime(stale, (old, old))
    assert spool.claim_oldest() is None
    assert not stale.exists() and fresh_temp.exists()


def test_released_file_becomes_ours_and_keeps_its_age(tmp_path):
    other = Spool(tmp_path)  # another process, as far as the counters of this one go
    other.put(b"spans", 2, gzipped=False)
    [original] = other.files()
    spool = Spool(tmp_path)
    claim = spool.claim_oldest()
    assert claim is not None and claim.adopted
    spool.release(claim)
    [released] = spool.files()
    assert released.writer == spool.writer and released.created_ms == original.created_ms
    snap = _stats.snapshot()
    assert (snap["spool_adopted"], snap["spool_pending"]) == (2, 2)
    claim = spool.claim_oldest()
    assert claim is not None and not claim.adopted, "adopted once, not twice"
    spool.complete(claim)
    assert _stats.snapshot()["replayed"] == 2
    assert assert_accounted(spool)["pending"] == 0


def test_endpoint_key_separates_collectors_and_credentials_without_leaking_them():
    base = endpoint_key("http://collector:4318/v1/traces")
    assert base.startswith("collector_4318-")
    assert endpoint_key("http://collector:4318/v1/traces", api_key="secret-1") != base
    assert endpoint_key("http://collector:4318/v1/traces", {"x-tenant": "a"}) != endpoint_key(
        "http://collector:4318/v1/traces", {"x-tenant": "b"}
    )
    assert "secret" not in endpoint_key("http://collector:4318/v1/traces", api_key="secret-1")
    assert endpoint_key("https://collector/v1/traces").startswith("collector_443-")


def test_endpoint_key_takes_any_string_without_raising():
    url = "http://collector:4318/v1/traces"
    keys = {
        endpoint_key(url),
        endpoint_key(url, api_key="k\ud800"),  # a lone surrogate: not UTF-8 encodable
        endpoint_key(url, {"x-tenant": "\ud800"}),
        endpoint_key("http://[::1/v1/traces"),  # a malformed host
    }
    assert len(keys) == 4


def test_a_spool_dir_the_os_cannot_take_is_reported_as_unwritable(tmp_path, caplog):
    for name in ("nul\x00byte", "lone\ud800surrogate"):
        spool = Spool(tmp_path / name)
        with caplog.at_level(logging.WARNING, logger="botanu"):
            assert put(spool) == "spool_unwritable"
            assert put(spool) == "spool_unwritable"
        assert spool.claim_oldest() is None and spool.files() == [] and spool.span_count() == 0
    assert sum("cannot write to the spool" in r.getMessage() for r in caplog.records) == 2
    assert assert_accounted()["dropped"] == {}, "refused batches are counted by the exporter, not here"


# --------------------------------------------------------------------------- what a file name may claim

NOW_MS = EXPIRED_MS = 0  # set at the start of each test, below


@pytest.fixture(autouse=True)
def _clock_read_when_the_test_starts() -> None:
    # Read at import time, "now" was as old as the suite's run up to this file: on a slow machine
    # more than the spools' max_age of 60 s, and the "fresh" files were already expired.
    global NOW_MS, EXPIRED_MS
    NOW_MS = int(time.time() * 1000)
    EXPIRED_MS = NOW_MS - 3_600_000


def spool_file(directory: Path, created_ms: int, spans: int, writer: str = "ab" * 6, seq: int = 1) -> Path:
    """A well-formed spool file, as another process would have left it."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / fmt.ready_name(created_ms, writer, seq, spans)
    path.write_bytes(fmt.encode(b"x" * 40, spans, created_ms, gzipped=False))
    return path


def test_a_stray_file_named_like_a_spool_file_cannot_claim_spans_it_does_not_hold(tmp_path):
    spool = Spool(tmp_path, max_age=60)
    (tmp_path / fmt.ready_name(EXPIRED_MS, "a" * 12, 1, 999_999_999)).write_bytes(b"not a spool file")
    (tmp_path / fmt.ready_name(NOW_MS, "b" * 12, 1, 888_888_888)).write_bytes(b"garbage")
    spool_file(tmp_path, EXPIRED_MS + 1, 3, writer="c" * 12)  # a real file: its name is believed
    assert spool.claim_oldest() is None
    snap = assert_accounted(spool)
    assert snap["dropped"] == {"too_old": 3}, snap
    assert snap["spool_files_corrupt"] == 1 and snap["spool_adopted"] == 3
    # The header holds the count in 32 bits: a name claiming more is not a spool file at all.
    assert fmt.parse_ready(fmt.ready_name(NOW_MS, "d" * 12, 1, 2**32)) is None
    assert fmt.parse_ready(fmt.ready_name(NOW_MS, "d" * 12, 1, 2**32 - 1)) is not None


# --------------------------------------------------------------------------- other collectors' directories


def test_expired_files_of_other_collectors_and_old_credentials_are_removed(tmp_path):
    url = "http://collector:4318/v1/traces"
    rotated = tmp_path / endpoint_key(url, api_key="old-key")  # never replayed again after a key rotation
    other = tmp_path / endpoint_key("http://other:4318/v1/traces")
    unrelated = tmp_path / "not-a-spool"
    expired = spool_file(rotated, EXPIRED_MS, 3)
    dead_lease = spool_file(rotated, EXPIRED_MS + 1, 4, seq=2)
    dead_lease = dead_lease.rename(rotated / fmt.lease_name(dead_lease.name, _host_tag(), dead_pid()))
    live_lease = spool_file(rotated, EXPIRED_MS + 2, 5, seq=3)
    live_lease = live_lease.rename(rotated / fmt.lease_name(live_lease.name, _host_tag(), os.getppid()))
    temp = rotated / fmt.temp_name("ab" * 6, 9, dead_pid())
    temp.write_bytes(b"half")
    (rotated / "corrupt").mkdir()
    old_corrupt = spool_file(rotated / "corrupt", EXPIRED_MS, 6, seq=4)
    for path in (temp, old_corrupt):
        os.utime(path, (EXPIRED_MS / 1000, EXPIRED_MS / 1000))
    fresh = spool_file(other, NOW_MS, 7)
    neighbour = spool_file(unrelated, EXPIRED_MS, 8)

    spool = Spool(tmp_path / endpoint_key(url, api_key="new-key"), max_age=60)
    assert spool.claim_oldest() is None, "nothing of theirs is replayed here"
    gone = [expired, dead_lease, temp, old_corrupt]
    assert [path.exists() for path in gone] == [False] * 4
    assert live_lease.exists(), "a lease its (live) process holds is left alone"
    assert fresh.exists(), "files within max_age wait for their own collector"
    assert neighbour.exists(), "only directories named like botanu's are touched"
    snap = assert_accounted()
    assert snap["dropped"] == {"too_old": 3 + 4} and snap["spool_adopted"] == 3 + 4, snap

    # Once per start-up (then hourly), not on every listing of the spool.
    later = spool_file(rotated, EXPIRED_MS, 9, seq=5)
    with spool._lock:
        spool._rescan_locked()
    assert later.exists()
    Spool(spool.directory, max_age=60).claim_oldest()  # the next process
    assert not later.exists()


def test_a_spool_in_a_directory_of_its_own_choosing_leaves_its_neighbours_alone(tmp_path):
    neighbour = spool_file(tmp_path / endpoint_key("http://other:4318/v1/traces"), EXPIRED_MS, 2)
    spool = Spool(tmp_path / "my-app-spool", max_age=60)
    assert spool.claim_oldest() is None
    assert neighbour.exists()
    assert _stats.snapshot()["dropped"] == {}


# --------------------------------------------------------------------------- crashes


WRITER = """
import os, sys, time
from botanu.export import Spool
spool = Spool(sys.argv[1], durable=True)
print("ready", flush=True)
while True:
    spool.put(os.urandom(256 * 1024), 10, gzipped=False)
"""


@pytest.mark.parametrize("kill_after", [0.05, 0.2, 0.35])
def test_kill_9_during_spool_writes_never_yields_a_corrupt_replay(tmp_path, kill_after):
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(tmp_path)], stdout=subprocess.PIPE, env=env, text=True
    )
    assert process.stdout is not None and process.stdout.readline().strip() == "ready"
    time.sleep(kill_after)
    process.send_signal(signal.SIGKILL)
    process.wait()
    spool = Spool(tmp_path)
    replayed = 0
    while (claim := spool.claim_oldest()) is not None:
        assert len(claim.record.payload) == 256 * 1024
        replayed += 1
        spool.complete(claim)
    snap = _stats.snapshot()
    assert snap.get("spool_files_corrupt", 0) == 0
    assert replayed >= 1
    # At most one temp file (the write that was cut short) is left, and it was not replayed.
    leftovers = [p.name for p in entries(Path(tmp_path))]
    assert all(name.endswith(".tmp") for name in leftovers) and len(leftovers) <= 1, leftovers

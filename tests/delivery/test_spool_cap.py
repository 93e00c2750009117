"""The spool's byte cap holds across processes writing at once, and a rename is made durable."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

from botanu import _stats
from botanu.export import Spool
from botanu.export import _spool_file as fmt

ROOT = Path(__file__).resolve().parents[2]
CAP = 120_000
PAYLOAD = 10_000

WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from botanu.export import Spool
    directory = Path(sys.argv[1])
    spool = Spool(directory, max_bytes=int(sys.argv[2]))
    largest = 0
    for _ in range(40):
        spool.put(b"x" * int(sys.argv[3]), 1, gzipped=False)
        # What is on disk right after this write, whatever the other writers are doing.
        size = 0
        for path in directory.iterdir():
            try:
                size += path.stat().st_size if ".otlp" in path.name else 0
            except FileNotFoundError:  # replaced or evicted meanwhile
                pass
        largest = max(largest, size)
    print(largest)
    """
)


def directory_bytes(directory: Path) -> int:
    return sum(p.stat().st_size for p in directory.iterdir() if p.name.endswith(".otlp"))


def test_four_processes_writing_at_once_never_exceed_the_cap(tmp_path):
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(tmp_path), str(CAP), str(PAYLOAD)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    largest_seen = []
    for writer in writers:
        out, _ = writer.communicate(timeout=60)
        assert writer.returncode == 0
        largest_seen.append(int(out.strip()))
    assert max(largest_seen) <= CAP, largest_seen  # at no moment, not only at the end
    total = directory_bytes(tmp_path)
    assert total <= CAP, total
    # Eviction made room: the directory is near the cap, holding the newest files.
    assert total >= CAP - 2 * (PAYLOAD + fmt.HEADER_SIZE)


def test_a_put_fsyncs_the_directory_after_the_rename(tmp_path, monkeypatch):
    synced: list[str] = []
    real_fsync = os.fsync

    def spy(fd: int) -> None:
        synced.append("dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", spy)
    _stats.reset()
    assert Spool(tmp_path).put(b"payload", 1, gzipped=False) is None
    assert synced == ["file", "dir"]
    synced.clear()
    assert Spool(tmp_path / "fast", durable=False).put(b"payload", 1, gzipped=False) is None
    assert synced == []


def test_a_fifo_named_like_a_spool_file_never_blocks_the_spool(tmp_path):
    import threading

    _stats.reset()
    spool = Spool(tmp_path)
    assert spool.put(b"first", 3, gzipped=False) is None
    fifo_name = fmt.ready_name(1, "0123456789ab", 1, 5)  # older than the real file: claimed first
    os.mkfifo(tmp_path / fifo_name)
    claimed: list[object] = []
    worker = threading.Thread(target=lambda: claimed.append(spool.claim_oldest()), daemon=True)
    worker.start()
    worker.join(5)
    assert not worker.is_alive(), "claim_oldest blocked on the FIFO"
    claim = claimed[0]
    assert claim is not None and claim.record.payload == b"first"  # type: ignore[attr-defined]
    assert spool.put(b"second", 2, gzipped=False) is None  # writers were never held up
    assert stat.S_ISFIFO(os.lstat(tmp_path / fifo_name).st_mode)  # left alone, never counted
    assert _stats.snapshot()["dropped"] == {}


def test_a_file_larger_than_the_cap_is_refused_as_corrupt_not_read_whole(tmp_path):
    _stats.reset()
    spool = Spool(tmp_path, max_bytes=10_000)
    assert spool.put(b"x" * 100, 1, gzipped=False) is None
    [name] = [p for p in tmp_path.iterdir() if p.name.endswith(".otlp")]
    with open(name, "ab") as handle:
        handle.write(b"y" * 50_000)  # grown by someone else past anything botanu writes
    assert spool.claim_oldest() is None
    assert (tmp_path / "corrupt").exists()

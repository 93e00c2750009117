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

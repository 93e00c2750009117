"""The durable spool: undelivered OTLP requests kept on disk until the collector takes them.

* **Whole files only.** A batch is written to a temp file, fsynced, then renamed
  to its final name; a crash leaves at most a temp file, which is never read.
  A checksum catches anything else: corrupt files are moved to ``corrupt/``
  and counted, never replayed, never fatal.
* **Bounded.** ``max_bytes`` and ``max_age``: the oldest files are evicted to
  make room, expired ones are removed; each evicted span is counted as dropped
  with its reason. Directories of other collectors or credentials next to this
  one (an endpoint change, a key rotation) are never replayed from here, so their
  expired files are removed too (:meth:`Spool._sweep_siblings_locked`). A
  read-only or full disk costs a warning and a counter.
* **Shared safely.** Any number of processes may use one directory. A process
  replays a file only after renaming it to a lease name carrying its host and
  pid, which exactly one process can do; leases of dead processes (or older
  than ``lease_ttl``) are renamed back and replayed by someone else.
* **Accounted.** Files carry their writer's token, so a process knows which
  spans it spooled itself and which it adopts from an earlier run (see
  :mod:`botanu._stats`).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import os
import re
import secrets
import socket
import sys
import tempfile
import threading
import time
import urllib.parse
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from stat import S_ISREG

from botanu import _stats
from botanu._safety import warn_once
from botanu.export import _spool_file as fmt
from botanu.export._fork import after_fork_in_child

logger = logging.getLogger("botanu")

# How long a complete listing of the directory is trusted for size accounting.
_RESCAN_INTERVAL = 2.0
# After a failed write, how long optional spool work (spilling the queue) is held back.
_REFUSAL_MEMORY = 5.0
# After finding nothing to replay, how soon the directory is listed again.
_EMPTY_RELIST_INTERVAL = 0.2
# Temp files older than this belong to a writer that died mid-write.
_TEMP_MAX_AGE = 60.0
# Corrupt files kept for inspection (the oldest are deleted beyond this).
_CORRUPT_KEPT = 20
# How often the directories of other collectors / credentials are checked for expired files.
_SWEEP_INTERVAL = 3600.0
# The name endpoint_key() gives a directory: only directories named so are swept as siblings.
_ENDPOINT_DIR = re.compile(r"^[A-Za-z0-9._-]{1,64}_\d{1,5}-[0-9a-f]{12}$")


def default_spool_root() -> Path:
    """``$XDG_CACHE_HOME/botanu/spool``, else ``~/.cache/botanu/spool`` (``%LOCALAPPDATA%`` on Windows)."""
    if sys.platform == "win32" and os.environ.get("LOCALAPPDATA"):
        return Path(os.environ["LOCALAPPDATA"]) / "botanu" / "spool"
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    if xdg and os.path.isabs(xdg):
        return Path(xdg) / "botanu" / "spool"
    try:
        return Path.home() / ".cache" / "botanu" / "spool"
    except (RuntimeError, KeyError):  # no home directory (some containers): a private temp dir
        uid = os.getuid() if hasattr(os, "getuid") else 0
        return Path(tempfile.gettempdir()) / f"botanu-{uid}" / "spool"


def endpoint_key(endpoint: str, headers: Mapping[str, str] | None = None, api_key: str | None = None) -> str:
    """A directory name per collector *and* credentials, so batches never reach another tenant.

    Readable host and port, plus a hash of everything that decides where and as whom
    the data lands (the secrets themselves never appear in the name).
    """
    try:
        parsed = urllib.parse.urlsplit(endpoint)
        hostname, port = parsed.hostname, parsed.port or (443 if parsed.scheme == "https" else 80)
    except ValueError:  # a malformed host or port: the hash alone tells collectors apart
        hostname, port = None, 0
    host = re.sub(r"[^A-Za-z0-9.-]", "_", hostname or "collector")[:64]
    identity = "\n".join(
        [endpoint, api_key or "", *(f"{k.lower()}={v}" for k, v in sorted((headers or {}).items()))]
    )
    # surrogatepass: a lone surrogate in a key is the exporter's problem to report, not a crash here.
    digest = hashlib.sha256(identity.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{host}_{port}-{digest[:12]}"


@dataclass(frozen=True)
class Claim:
    """A spool file this process has leased for replay."""

    entry: fmt.SpoolName
    path: Path
    record: fmt.SpoolRecord
    size: int
    adopted: bool

    @property
    def span_count(self) -> int:
        return self.entry.span_count


def _host_tag() -> str:
    try:
        name = socket.gethostname()
    except OSError:
        name = ""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)[:64] or "host"


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: alive, owned by someone else
        return True
    return True


@contextlib.contextmanager
def _directory_lock(directory: Path) -> Iterator[None]:
    """An exclusive lock on ``directory`` shared by every process writing to it (where flock exists)."""
    try:
        import fcntl
    except ImportError:  # not POSIX: the in-process lock and periodic rescans are what there is
        yield
        return
    fd = os.open(directory / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _read_regular(path: Path, limit: int, *, whole: bool = True) -> bytes:
    """Up to ``limit`` bytes of ``path``, which must be a regular file (a FIFO would block forever).

    With ``whole``, a file longer than ``limit`` is refused as corrupt (no spool file can be).
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0))
    try:
        if not S_ISREG(os.fstat(fd).st_mode):
            raise fmt.CorruptSpoolFile("not a regular file")
        chunks = []
        left = limit + 1 if whole else limit
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        data = b"".join(chunks)
    finally:
        os.close(fd)
    if whole and len(data) > limit:
        raise fmt.CorruptSpoolFile(f"larger than the spool's cap ({limit} bytes)")
    return data


def _fsync_directory(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some filesystems refuse fsync on a directory: the file itself was synced
        pass
    finally:
        os.close(fd)


class Spool:
    """A bounded, crash-safe, multi-process directory of undelivered OTLP requests.

    Args:
        directory: The directory for one collector (see :func:`endpoint_key`).
        max_bytes: Size cap; the oldest files are evicted (counted ``spool_full``).
        max_age: Seconds after which a file is dropped unsent (counted ``too_old``).
        durable: fsync each file before it becomes visible.
        lease_ttl: Seconds after which a lease is considered abandoned even if its
            process seems alive (pid reuse, another host sharing the directory).
        signal: ``"traces"`` or ``"logs"``: what its files hold. Each file's header says so,
            and a file of the other signal is never replayed here (it is quarantined).
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        max_bytes: int = 64 * 1024 * 1024,
        max_age: float = 24 * 3600.0,
        durable: bool = True,
        lease_ttl: float = 600.0,
        signal: str = "traces",
    ) -> None:
        self.directory = Path(directory)
        self.signal = signal
        self.ledger = _stats.logs if signal == "logs" else _stats.spans
        self.max_bytes = max_bytes
        self.max_age = max_age
        self.durable = durable
        self.lease_ttl = lease_ttl
        self._host = _host_tag()
        # Not reset in a forked child: the parent's sweep covers its workers too.
        self._swept_at = -_SWEEP_INTERVAL
        self._init_process_state()
        after_fork_in_child(self.after_fork)

    def _init_process_state(self) -> None:
        self._lock = threading.Lock()
        self._writer = secrets.token_hex(6)
        self._pid = os.getpid()
        self._seq = 0
        self._bytes: int | None = None
        self._scanned_at = 0.0
        self._found_nothing_at = -_EMPTY_RELIST_INTERVAL
        self._candidates: deque[fmt.SpoolName] = deque()
        self._refused_at = -_REFUSAL_MEMORY  # when a write last failed

    def after_fork(self) -> None:
        """In a forked child: a new writer identity, no inherited locks or caches."""
        self._init_process_state()

    @property
    def writer(self) -> str:
        """This process's token in the names of the files it writes."""
        return self._writer

    # ------------------------------------------------------------------ writing

    def put(self, payload: bytes, span_count: int, *, gzipped: bool) -> str | None:
        """Store one request body. Return None when stored, else the reason it was dropped."""
        size = fmt.HEADER_SIZE + len(payload)
        if size > self.max_bytes:
            return "spool_full"
        with self._lock:
            try:
                self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
                with _directory_lock(self.directory):
                    # Other processes may have written since this one last looked: under the
                    # directory's lock a fresh listing is exact, so the cap holds for all of them.
                    self._rescan_locked()
                    if self._bytes is not None and self._bytes + size > self.max_bytes:
                        self._evict_locked(size)
                        if self._bytes is not None and self._bytes + size > self.max_bytes:
                            return "spool_full"
                    self._candidates.append(self._write_locked(payload, span_count, gzipped))
                    self._bytes = (self._bytes or 0) + size
            except (OSError, ValueError) as error:  # ValueError: a path the OS cannot take (a NUL byte)
                self._refused_at = time.monotonic()
                self._warn_unwritable(error)
                return "spool_unwritable"
        return None

    def accepting(self) -> bool:
        """False for a while after a write failed: work that is optional (spilling) waits then."""
        return time.monotonic() - self._refused_at >= _REFUSAL_MEMORY

    def _write_locked(self, payload: bytes, span_count: int, gzipped: bool) -> fmt.SpoolName:
        self._seq += 1
        created_ms = int(time.time() * 1000)
        temp = self.directory / fmt.temp_name(self._writer, self._seq, self._pid)
        entry = fmt.SpoolName(
            fmt.ready_name(created_ms, self._writer, self._seq, span_count),
            created_ms,
            self._writer,
            self._seq,
            span_count,
        )
        final = self.directory / entry.name
        data = fmt.encode(payload, span_count, created_ms, gzipped=gzipped, logs=self.signal == "logs")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                if self.durable:
                    os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(temp, final)
            if self.durable:
                _fsync_directory(self.directory)  # the rename itself survives a power cut
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise
        return entry

    def _warn_unwritable(self, error: OSError | ValueError) -> None:
        code = getattr(error, "errno", None)
        kind = errno.errorcode.get(code or 0, type(error).__name__)
        warn_once(
            ("spool-unwritable", str(self.directory), kind),
            "botanu: cannot write to the spool at %r (%s); spans the collector could not take are "
            "dropped instead (counted in botanu.stats())",
            str(self.directory),
            getattr(error, "strerror", None) or error,
        )

    # ------------------------------------------------------------------ trimming

    def _rescan_locked(self) -> None:
        """List the directory: exact size, expired files removed, stale leases and temp files recovered."""
        if time.monotonic() - self._swept_at >= _SWEEP_INTERVAL:
            self._swept_at = time.monotonic()
            self._sweep_siblings_locked()
        now_wall = time.time()
        total = 0
        ready: list[fmt.SpoolName] = []
        try:
            entries = list(os.scandir(self.directory))
        except (OSError, ValueError):  # not there yet, or unreadable: nothing to replay from it
            entries = []
        for entry in entries:
            name = entry.name
            try:
                stat = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if not S_ISREG(stat.st_mode):
                continue  # a FIFO, device or link named like a spool file is never read
            parsed = fmt.parse_ready(name)
            if parsed is not None:
                if (now_wall * 1000 - parsed.created_ms) / 1000 > self.max_age:
                    self._remove_ready_locked(parsed, "too_old")
                    continue
                ready.append(parsed)
                total += stat.st_size
                continue
            lease = fmt.parse_lease(name)
            if lease is not None:
                if self._lease_is_stale(lease, now_wall - stat.st_mtime):
                    with contextlib.suppress(OSError):
                        os.rename(self.directory / name, self.directory / lease[0])
                        recovered = fmt.parse_ready(lease[0])
                        if recovered is not None:
                            ready.append(recovered)
                total += stat.st_size
                continue
            if name.endswith(fmt.TEMP_SUFFIX) and now_wall - stat.st_mtime > _TEMP_MAX_AGE:
                with contextlib.suppress(OSError):
                    os.unlink(self.directory / name)
        ready.sort(key=lambda item: item.name)
        self._candidates = deque(ready)
        self._bytes = total
        self._scanned_at = time.monotonic()

    def _lease_is_stale(self, lease: tuple[str, str, int], age: float) -> bool:
        _, host, pid = lease
        if age > self.lease_ttl:
            return True
        if host != self._host:
            return False  # another host's pids mean nothing here: wait for the TTL
        return pid != os.getpid() and not _pid_alive(pid)

    def _evict_locked(self, needed: int) -> None:
        """Remove the oldest ready files until ``needed`` more bytes fit."""
        while self._candidates and (self._bytes or 0) + needed > self.max_bytes:
            self._remove_ready_locked(self._candidates.popleft(), "spool_full")

    def _remove_ready_locked(self, entry: fmt.SpoolName, reason: str) -> None:
        size = self._remove_locked(self.directory, entry.name, entry, reason)
        if size is not None and self._bytes is not None:
            self._bytes -= size

    def _remove_locked(self, directory: Path, name: str, entry: fmt.SpoolName, reason: str) -> int | None:
        """Delete ``directory/name`` (ready or leased file ``entry``) unsent and count it; return its size."""
        # Lease first, so a file another process is replaying (or removing) is never counted twice.
        lease = directory / fmt.lease_name(entry.name, self._host, os.getpid())
        try:
            os.rename(directory / name, lease)
            size = os.lstat(lease).st_size
            head = _read_regular(lease, fmt.HEADER_SIZE, whole=False)
            os.unlink(lease)
        except (OSError, fmt.CorruptSpoolFile):
            return None
        spans = self._believed_spans(entry, head)
        # A sibling directory's file may hold the other signal: its header says which books it is in.
        ledger = _stats.logs if fmt.header_signal(head) == "logs" else _stats.spans
        if entry.writer != self._writer:
            ledger.spool_adopted(spans)
        ledger.spool_dropped(reason, spans)
        return size

    def _believed_spans(self, entry: fmt.SpoolName, head: bytes) -> int:
        """How many spans a file removed unsent is counted as.

        Our own files: what the name says (the counters were told exactly that when it was
        written). Anyone else's: the name only if the header agrees, so a stray or damaged file
        named like a spool file cannot claim a billion spans in ``botanu.stats()``.
        """
        if entry.writer == self._writer or fmt.header_span_count(head) == entry.span_count:
            return entry.span_count
        return 0

    def _sweep_siblings_locked(self) -> None:
        """Remove expired files in the directories of other collectors or credentials beside this one.

        After an endpoint change or a key rotation no process replays those directories any more,
        and without this their files would stay on disk forever. Only directories named like
        :func:`endpoint_key` names them are touched, and only when this one is named so too (a
        directory given by hand may sit among unrelated ones). They do not count towards
        ``max_bytes``: that is each directory's own cap.
        """
        if not _ENDPOINT_DIR.match(self.directory.name):
            return
        try:
            siblings = [
                Path(entry.path)
                for entry in os.scandir(self.directory.parent)
                if entry.name != self.directory.name
                and _ENDPOINT_DIR.match(entry.name)
                and entry.is_dir(follow_symlinks=False)
            ]
        except (OSError, ValueError):
            return
        for sibling in siblings:
            self._expire_in_locked(sibling)

    def _expire_in_locked(self, directory: Path) -> None:
        now_wall = time.time()
        try:
            entries = list(os.scandir(directory))
        except (OSError, ValueError):
            return
        for entry in entries:
            name = entry.name
            lease = fmt.parse_lease(name)
            parsed = fmt.parse_ready(lease[0] if lease else name)
            try:
                age = now_wall - entry.stat(follow_symlinks=False).st_mtime
            except OSError:
                continue
            if parsed is not None:
                expired = (now_wall * 1000 - parsed.created_ms) / 1000 > self.max_age
                if expired and (lease is None or self._lease_is_stale(lease, age)):
                    self._remove_locked(directory, name, parsed, "too_old")
            elif name.endswith(fmt.TEMP_SUFFIX) and age > _TEMP_MAX_AGE:
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)
            elif name == "corrupt":
                self._expire_corrupt(Path(entry.path), now_wall)

    def _expire_corrupt(self, corrupt_dir: Path, now_wall: float) -> None:
        """Files kept for inspection go once they are older than ``max_age`` (already counted)."""
        with contextlib.suppress(OSError, ValueError):
            for entry in os.scandir(corrupt_dir):
                if now_wall - entry.stat(follow_symlinks=False).st_mtime > self.max_age:
                    with contextlib.suppress(OSError):
                        os.unlink(entry.path)

    # ------------------------------------------------------------------ replaying

    def claim_oldest(self) -> Claim | None:
        """Lease the oldest file that can be replayed, or return None if there is none.

        Only the choice and the rename happen under the spool's lock; the file is read outside
        it, so a read that stalls (a hung network filesystem) holds up the replayer alone, not
        the writers spooling the app's spans meanwhile.
        """
        while True:
            with self._lock:
                if not self._candidates:
                    if time.monotonic() - self._found_nothing_at < _EMPTY_RELIST_INTERVAL:
                        return None
                    self._rescan_locked()
                    if not self._candidates:
                        self._found_nothing_at = time.monotonic()
                        return None
                entry = self._candidates.popleft()
                if (time.time() * 1000 - entry.created_ms) / 1000 > self.max_age:
                    self._remove_ready_locked(entry, "too_old")
                    continue
                lease = self.directory / fmt.lease_name(entry.name, self._host, os.getpid())
                try:
                    os.rename(self.directory / entry.name, lease)
                except OSError:
                    continue  # another process took it first (or it was evicted)
            claim = self._read_lease(entry, lease)
            if claim is not None:
                return claim

    def _read_lease(self, entry: fmt.SpoolName, lease: Path) -> Claim | None:
        adopted = entry.writer != self._writer
        data = b""
        try:
            os.utime(lease)  # the lease's age counts from now
            data = _read_regular(lease, fmt.HEADER_SIZE + self.max_bytes)
            record = fmt.decode(data)
            if record.span_count != entry.span_count:
                raise fmt.CorruptSpoolFile("span count differs from the file name")
            if record.signal != self.signal:
                raise fmt.CorruptSpoolFile(f"holds {record.signal}, not {self.signal}")
        except (OSError, fmt.CorruptSpoolFile) as error:
            spans = self._believed_spans(entry, data[: fmt.HEADER_SIZE])
            with self._lock:
                self._quarantine_locked(entry, lease, adopted, error, spans)
            return None
        if adopted:
            self.ledger.spool_adopted(entry.span_count)
        return Claim(entry, lease, record, len(data), adopted)

    def _quarantine_locked(
        self, entry: fmt.SpoolName, lease: Path, adopted: bool, error: Exception, spans: int
    ) -> None:
        corrupt_dir = self.directory / "corrupt"
        try:
            corrupt_dir.mkdir(mode=0o700, exist_ok=True)
            os.rename(lease, corrupt_dir / entry.name)
            kept = sorted(corrupt_dir.iterdir())
            for old in kept[:-_CORRUPT_KEPT]:
                old.unlink()
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(lease)
        self._bytes = None
        warn_once(
            ("spool-corrupt", str(self.directory)),
            "botanu: a spool file was damaged (%s); moved to %s and not replayed",
            error,
            corrupt_dir,
        )
        _stats.add("spool_files_corrupt")
        if adopted:
            self.ledger.spool_adopted(spans)
        self.ledger.spool_dropped("corrupt", spans)

    def complete(self, claim: Claim, rejected: int = 0) -> None:
        """The collector took the claimed file: delete it."""
        with contextlib.suppress(OSError):
            os.unlink(claim.path)
        with self._lock:
            if self._bytes is not None:
                self._bytes -= claim.size
        self.ledger.spool_replayed(claim.span_count, rejected)

    def discard(self, claim: Claim, reason: str) -> None:
        """The claimed file can never be delivered (the collector refused it): delete it."""
        with contextlib.suppress(OSError):
            os.unlink(claim.path)
        with self._lock:
            if self._bytes is not None:
                self._bytes -= claim.size
        self.ledger.spool_dropped(reason, claim.span_count)

    def release(self, claim: Claim) -> None:
        """Give the claimed file back (the collector is down): it is ours now, same age."""
        with self._lock:
            self._seq += 1
            name = fmt.ready_name(claim.entry.created_ms, self._writer, self._seq, claim.span_count)
            try:
                os.rename(claim.path, self.directory / name)
            except OSError:  # the lease vanished (an operator cleaned up): nothing left to account for
                self.ledger.spool_dropped("spool_removed", claim.span_count)
                return
            self._candidates.appendleft(fmt.parse_ready(name))  # type: ignore[arg-type]

    # ------------------------------------------------------------------ inspection

    def files(self) -> list[fmt.SpoolName]:
        """Ready (unleased) files, oldest first."""
        try:
            names = os.listdir(self.directory)
        except (OSError, ValueError):
            return []
        parsed = [fmt.parse_ready(name) for name in names]
        return sorted((p for p in parsed if p is not None), key=lambda p: p.name)

    def span_count(self) -> int:
        """Spans in ready and leased files (what the spool holds, whoever wrote it)."""
        total = 0
        for name in self._names():
            lease = fmt.parse_lease(name)
            parsed = fmt.parse_ready(lease[0] if lease else name)
            if parsed is not None:
                total += parsed.span_count
        return total

    def _names(self) -> list[str]:
        try:
            return os.listdir(self.directory)
        except (OSError, ValueError):
            return []

"""Real application servers under `botanu run`: gunicorn prefork, uvicorn --workers, celery prefork.

Each test starts the real server as a subprocess on 127.0.0.1 with botanu's pipeline exporting to
the loopback OTLP receiver (its own spool directory and HOME), drives it, stops it the way an
operator would (SIGTERM) and then checks, at the receiver, what the workers delivered: every
span exactly once, from the worker processes that made it, before the server finished exiting.
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import re
import signal
import subprocess
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.support.otlp_receiver import OTLPReceiver, ReceivedSpan
from tests.zero_code._support import BIN, RecordingServer, clean_env

APPS = Path(__file__).resolve().parent / "_apps"
REQUESTS = 12
# How long a server may take from SIGTERM to exit: botanu's exit budget (shutdown_timeout, 5 s)
# plus the server's own stopping time. gunicorn and uvicorn stop in about a second here.
EXIT_BOUND = 8.0
# celery's warm shutdown with a polled (virtual) transport such as the filesystem one takes about
# 5 s by itself (its loop drains the broker with a 2 s timeout), with or without botanu.
CELERY_EXIT_BOUND = 15.0


class ServerProcess:
    """A server process (under `botanu run` unless told), its output read on a thread."""

    def __init__(self, command: list[str], env: dict[str, str], cwd: Path, botanu_run: bool = True) -> None:
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self.process = subprocess.Popen(
            [str(BIN / "botanu"), "run", "--", *command] if botanu_run else command,
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # its own process group, so cleanup can reach stray workers
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            with self._changed:
                self.lines.append(line)
                self._changed.notify_all()

    @property
    def output(self) -> str:
        with self._changed:
            return "".join(self.lines)

    def wait_for(self, pattern: str, count: int = 1, timeout: float = 15.0) -> list[re.Match[str]]:
        """The first ``count`` matches of ``pattern`` in the output, waiting for them."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = [m for m in map(regex.search, self.lines) if m]
                if len(found) >= count:
                    return found[:count]
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self.process.poll() is not None:
                    raise AssertionError(f"{pattern!r} x{count} not seen; output:\n{''.join(self.lines)}")
                self._changed.wait(min(remaining, 0.1))

    def terminate(self, timeout: float = 20.0) -> float:
        """SIGTERM, wait for the exit, and return how long it took."""
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=timeout)
        elapsed = time.monotonic() - started
        self._reader.join(timeout=5)
        return elapsed

    def assert_clean_exit(self, elapsed: float, bound: float) -> None:
        """It exited 0 within ``bound`` seconds, with no traceback and no undelivered spans."""
        output = self.output
        assert self.process.returncode == 0, output
        assert elapsed < bound, (elapsed, output)
        assert "Traceback" not in output and "not delivered" not in output, output

    def kill(self) -> None:
        """After a failure: kill the process group this test started (its workers too)."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


@pytest.fixture
def downstream():
    server = RecordingServer()
    yield server
    server.close()


def server_env(tmp_path: Path, receiver: OTLPReceiver, **extra: str) -> dict[str, str]:
    """Environment for a server: botanu exporting to ``receiver``, a private spool and HOME."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    return clean_env(
        HOME=str(home),
        XDG_CACHE_HOME=str(home / ".cache"),
        BOTANU_SPOOL_DIR=str(tmp_path / "spool"),
        BOTANU_ENDPOINT=receiver.endpoint,
        # No timed export during a test: every span must be delivered by the flush on the way out.
        OTEL_BSP_SCHEDULE_DELAY="60000",
        PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        PYTHONUNBUFFERED="1",
        **extra,
    )


def spooled_files(tmp_path: Path) -> list[Path]:
    spool = tmp_path / "spool"
    return [p for p in spool.rglob("*") if p.is_file()] if spool.exists() else []


def assert_each_span_once(spans: list[ReceivedSpan]) -> None:
    counts = collections.Counter(s.span_id for s in spans)
    duplicates = {span_id: n for span_id, n in counts.items() if n > 1}
    assert not duplicates, [(s.name, s.attributes.get("app.pid")) for s in spans if s.span_id in duplicates]


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def drive(port: int, count: int = REQUESTS) -> list[dict]:
    """``count`` requests, four at a time (each handler holds its worker, so both workers serve)."""
    with ThreadPoolExecutor(4) as pool:
        return list(pool.map(lambda n: get_json(f"http://127.0.0.1:{port}/work/{n}"), range(count)))


def check_requests(spans: list[ReceivedSpan], server_scope: str, answers: list[dict]) -> set[int]:
    """Server, run and client span of every request, in one trace; returns the pids that served."""
    servers = [s for s in spans if s.kind == "SERVER" and s.scope == server_scope]
    assert sorted(s.attributes["app.request"] for s in servers) == list(range(len(answers)))
    by_parent = collections.defaultdict(list)
    for span in spans:
        by_parent[span.parent_span_id].append(span)
    run_ids = set()
    for server in servers:
        (run,) = [s for s in by_parent[server.span_id] if s.name == "botanu.run/Checkout"]
        (client,) = [s for s in by_parent[run.span_id] if s.kind == "CLIENT"]
        assert server.trace_id == run.trace_id == client.trace_id
        run_id = run.attributes["botanu.run_id"]
        assert run.attributes["botanu.event_id"] == f"order-{server.attributes['app.request']}"
        assert client.attributes["botanu.run_id"] == run_id
        run_ids.add(run_id)
    assert len(run_ids) == len(answers)  # a fresh run for each request
    pids = {s.attributes["app.pid"] for s in servers}
    assert pids == {answer["pid"] for answer in answers}
    return pids


# --------------------------------------------------------------------------- gunicorn


@pytest.mark.timeout(30)
@pytest.mark.parametrize("preload", [False, True], ids=["no-preload", "preload"])
@pytest.mark.parametrize("launch", ["botanu-run", "init-in-app"])
def test_gunicorn_prefork_workers_deliver_every_span_once(
    tmp_path, otlp_receiver, downstream, launch, preload
):
    """``botanu run -- gunicorn`` (zero code), or plain gunicorn with ``botanu.init()`` in the app module."""
    command = [
        "gunicorn",
        "--workers=2",
        "--worker-class=sync",
        "--bind=127.0.0.1:0",
        f"--chdir={APPS}",
        # `-c`, not `--config`: opentelemetry-instrument mistakes `--config` for its own options.
        "-c",
        str(APPS / "gunicorn_conf.py"),
        "--graceful-timeout=10",
        *(["--preload"] if preload else []),
        "wsgi_app:app",
    ]
    in_code = launch == "init-in-app"
    env = server_env(
        tmp_path,
        otlp_receiver,
        APP_DOWNSTREAM=f"http://127.0.0.1:{downstream.port}",
        APP_INIT_IN_CODE="1" if in_code else "0",
    )
    server = ServerProcess(command, env, tmp_path, botanu_run=not in_code)
    try:
        port = int(server.wait_for(r"Listening at: http://127\.0\.0\.1:(\d+)")[0].group(1))
        ready = {int(m.group(1)) for m in server.wait_for(r"app worker ready: (\d+)", count=2)}
        answers = drive(port)
        elapsed = server.terminate()
    finally:
        server.kill()
    server.assert_clean_exit(elapsed, EXIT_BOUND)
    master = server.process.pid

    spans = otlp_receiver.spans()
    assert_each_span_once(spans)
    pids = check_requests(spans, "opentelemetry.instrumentation.flask", answers)
    assert len(pids) == 2 and pids <= ready and master not in pids
    boots = [s.attributes["app.pid"] for s in spans if s.name == "app.boot"]
    # With --preload the master imported the app (and queued its span) before forking: only the
    # master sends it. Without, each worker imported the app and sends its own.
    assert sorted(boots) == ([master] if preload else sorted(ready))
    assert spooled_files(tmp_path) == []


# --------------------------------------------------------------------------- uvicorn


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    "shutdown_hook",
    [
        pytest.param(False, id="zero-code-only"),
        pytest.param(True, id="lifespan-shutdown-hook"),
    ],
)
def test_uvicorn_workers_deliver_every_span_once(tmp_path, otlp_receiver, downstream, shutdown_hook):
    """``botanu run -- uvicorn --workers 2``: spawned workers, each set up by opentelemetry-instrument."""
    command = [
        "uvicorn",
        "--workers=2",
        "--host=127.0.0.1",
        "--port=0",
        f"--app-dir={APPS}",
        "--timeout-graceful-shutdown=10",
        "asgi_app:app",
    ]
    env = server_env(
        tmp_path,
        otlp_receiver,
        APP_DOWNSTREAM=f"http://127.0.0.1:{downstream.port}",
        APP_SHUTDOWN_HOOK="1" if shutdown_hook else "0",
    )
    server = ServerProcess(command, env, tmp_path)
    try:
        port = int(server.wait_for(r"Uvicorn running on http://127\.0\.0\.1:(\d+)")[0].group(1))
        workers = {int(m.group(1)) for m in server.wait_for(r"Started server process \[(\d+)\]", count=2)}
        server.wait_for(r"Application startup complete", count=2)
        answers = drive(port)
        elapsed = server.terminate()
    finally:
        server.kill()
    server.assert_clean_exit(elapsed, EXIT_BOUND)

    spans = otlp_receiver.spans()
    assert_each_span_once(spans)
    pids = check_requests(spans, "opentelemetry.instrumentation.fastapi", answers)
    assert len(pids) == 2 and pids <= workers and server.process.pid not in pids
    assert spooled_files(tmp_path) == []


# --------------------------------------------------------------------------- celery

TASKS = 8


@pytest.mark.timeout(30)
@pytest.mark.parametrize("trust", [False, True], ids=["default-trust", "trust-inbound-baggage"])
def test_celery_prefork_workers_deliver_every_task_span(tmp_path, otlp_receiver, downstream, trust):
    """``botanu run -- celery worker -P prefork -c 2``, fed by a producer under ``botanu run`` too."""
    broker, done = tmp_path / "broker", tmp_path / "done"
    broker.mkdir()
    done.mkdir()
    env = server_env(
        tmp_path,
        otlp_receiver,
        APP_DOWNSTREAM=f"http://127.0.0.1:{downstream.port}",
        APP_BROKER_DIR=str(broker),
        APP_DONE_DIR=str(done),
        PYTHONPATH=str(APPS),
    )
    worker_env = dict(env, BOTANU_TRUST_INBOUND_BAGGAGE="1" if trust else "0")
    command = [
        "celery",
        "-A",
        "celery_app",
        "worker",
        "-P",
        "prefork",
        "-c",
        "2",
        "-n",
        "w1@localhost",
        "--loglevel=INFO",
        "--without-mingle",
        "--without-gossip",
        "--without-heartbeat",
    ]
    worker = ServerProcess(command, worker_env, tmp_path)
    try:
        worker.wait_for(r"w1@localhost ready")
        producer = subprocess.run(
            [str(BIN / "botanu"), "run", "--", "python", str(APPS / "celery_producer.py"), str(TASKS)],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=20,
        )
        assert producer.returncode == 0, producer.stderr
        producer_run = producer.stdout.split()[-1]
        deadline = time.monotonic() + 15
        while len(list(done.iterdir())) < TASKS and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(list(done.iterdir())) == TASKS, worker.output
        elapsed = worker.terminate()
    finally:
        worker.kill()
    worker.assert_clean_exit(elapsed, CELERY_EXIT_BOUND)

    spans = otlp_receiver.spans()
    assert_each_span_once(spans)
    (batch,) = [s for s in spans if s.name == "botanu.run/Nightly"]
    assert batch.attributes["botanu.run_id"] == producer_run
    sent = [s for s in spans if s.kind == "PRODUCER"]
    consumed = [s for s in spans if s.kind == "CONSUMER"]
    assert len(sent) == TASKS
    assert {s.parent_span_id for s in sent} == {batch.span_id}
    assert {s.attributes["botanu.run_id"] for s in sent} == {producer_run}
    # Every task ran once and its span arrived once, from a pool process (not the master).
    assert sorted(s.attributes["app.task"] for s in consumed) == list(range(TASKS))
    by_parent = collections.defaultdict(list)
    for span in spans:
        by_parent[span.parent_span_id].append(span)
    pids = set()
    for task in consumed:
        # The task continues the producer's trace: traceparent always crosses the broker.
        assert task.trace_id == batch.trace_id
        assert task.parent_span_id in {s.span_id for s in sent}
        (task_run,) = [s for s in by_parent[task.span_id] if s.name == "botanu.run/NightlyTask"]
        (client,) = [s for s in by_parent[task_run.span_id] if s.kind == "CLIENT"]
        assert task_run.attributes["botanu.event_id"] == f"task-{task.attributes['app.task']}"
        assert client.attributes["botanu.run_id"] == task_run.attributes["botanu.run_id"] != producer_run
        if trust:
            # The worker continues the producer's run: the task span carries its run id and the
            # task's own run records it as parent. Identity (customer, event) never crosses the
            # broker in baggage: the outbound rule strips it where the destination is no named host.
            assert task.attributes["botanu.run_id"] == producer_run
            assert task.attributes["botanu.workflow"] == "Nightly"
            assert "botanu.customer_id" not in task.attributes
            assert "botanu.event_id" not in task.attributes
            assert task_run.attributes["botanu.parent_run_id"] == producer_run
        else:
            # By default inbound botanu baggage is ignored, so the broker cannot forge attribution.
            assert not any(key.startswith("botanu.") for key in task.attributes)
            assert "botanu.parent_run_id" not in task_run.attributes
        pids.add(task.attributes["app.pid"])
    assert len(pids) == 2 and worker.process.pid not in pids
    assert spooled_files(tmp_path) == []

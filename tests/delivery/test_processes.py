"""Real processes: exit while the collector is down or hangs, replay in the next process,
forked children and multiprocessing workers (fork and spawn), processes sharing a spool."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from botanu.export import Spool
from tests.delivery._faults import endpoint_for, free_port, receiver_on
from tests.delivery.conftest import ROOT, run_script
from tests.support.otlp_receiver import Reply

# Prints botanu.stats() after botanu's own exit flush (atexit runs handlers last-in, first-out).
EMIT = """
import atexit, json, sys, botanu
atexit.register(lambda: print(json.dumps(botanu.stats()), flush=True))
endpoint, spool_dir, count, tag = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
settings = botanu.init(endpoint=endpoint, spool_dir=spool_dir, instrumentations=False,
                       shutdown_timeout=float(sys.argv[5]) if len(sys.argv) > 5 else 3.0)
for i in range(count):
    with botanu.event(event_id=f"{tag}-{i}", customer_id="c", workflow="Proc"):
        pass
"""

WAIT_FOR_EMPTY_SPOOL = """
import time
from botanu.export import spool_directory
directory = spool_directory(settings)
deadline = time.monotonic() + 15
while time.monotonic() < deadline and any(p.name.count(".otlp") for p in directory.glob("*.otlp*")):
    time.sleep(0.05)
"""


def last_json(stdout: str) -> dict:
    return json.loads(stdout.strip().splitlines()[-1])


def event_ids(receiver) -> Counter:
    return Counter(s.attributes.get("botanu.event_id") for s in receiver.spans())


def test_collector_down_for_a_whole_run_then_up_every_span_arrives_once(tmp_path):
    port = free_port()
    spool_dir = tmp_path / "spool"
    started = time.monotonic()
    first = run_script(EMIT, endpoint_for(port), str(spool_dir), "300", "first", "3")
    elapsed = time.monotonic() - started
    assert first.returncode == 0, first.stderr
    assert elapsed < 3 + 3, elapsed
    assert first.stderr.count("cannot deliver spans") == 1, first.stderr
    assert "300 kept in the spool" in first.stderr
    stats = last_json(first.stdout)
    assert stats["balanced"] and stats["spooled"] == 300 and stats["dropped"] == {}, stats

    receiver = receiver_on(port)
    try:
        second = run_script(
            EMIT + WAIT_FOR_EMPTY_SPOOL, endpoint_for(port), str(spool_dir), "5", "second", "3"
        )
        assert second.returncode == 0, second.stderr
        stats = last_json(second.stdout)
        assert stats["balanced"], stats
        assert (stats["replayed"], stats["spool_adopted"], stats["exported"]) == (300, 300, 5), stats
        counts = event_ids(receiver)
    finally:
        receiver.close()
    assert {f"first-{i}" for i in range(300)} | {f"second-{i}" for i in range(5)} == set(counts)
    assert set(counts.values()) == {1}, "no span was sent twice"


def test_atexit_is_bounded_while_the_collector_hangs_and_spools_the_rest(otlp_receiver, tmp_path):
    otlp_receiver.default = Reply(200, delay=30)
    started = time.monotonic()
    result = run_script(EMIT, otlp_receiver.endpoint, str(tmp_path / "spool"), "50", "hang", "1.5")
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert elapsed < 1.5 + 3, elapsed
    stats = last_json(result.stdout)
    assert stats["balanced"] and stats["spooled"] == 50 and stats["dropped"] == {}, stats
    [directory] = (tmp_path / "spool").iterdir()
    assert Spool(directory).span_count() == 50


FORK_CHILDREN = """
import os, sys, json, botanu
settings = botanu.init(endpoint=sys.argv[1], spool_dir=sys.argv[2], instrumentations=False)
def emit(tag, count):
    for i in range(count):
        with botanu.event(event_id=f"{tag}-{i}", customer_id="c", workflow="Fork"):
            pass
emit("parent", 5)  # still queued at fork time: the children must not send these again
children = []
for child in range(3):
    pid = os.fork()
    if pid == 0:
        emit(f"child{child}", 20)
        if child == 2:
            sys.exit(0)  # through atexit
        os._exit(0)       # the usual way out of a forked worker: no atexit
    children.append(pid)
codes = [os.waitpid(pid, 0)[1] for pid in children]
emit("parent-after", 5)
delivered = botanu.shutdown()
print(json.dumps({"codes": codes, "delivered": delivered, "stats": botanu.stats()}))
"""


def test_forked_children_send_their_own_spans_and_not_the_parents(otlp_receiver, tmp_path):
    result = run_script(
        FORK_CHILDREN,
        otlp_receiver.endpoint,
        str(tmp_path / "spool"),
        env={"OTEL_BSP_SCHEDULE_DELAY": "5000"},
    )
    assert result.returncode == 0, result.stderr
    out = last_json(result.stdout)
    assert out["codes"] == [0, 0, 0] and out["delivered"] is True
    assert out["stats"]["balanced"] and out["stats"]["spans_queued"] == 10, "a child's spans are its own"
    expected = {f"parent-{i}" for i in range(5)} | {f"parent-after-{i}" for i in range(5)}
    expected |= {f"child{c}-{i}" for c in range(3) for i in range(20)}
    counts = event_ids(otlp_receiver)
    assert set(counts) == expected
    assert set(counts.values()) == {1}


MULTIPROCESSING = """
import json, multiprocessing, sys, botanu
from tests.delivery import _mp_worker

def main():
    method = sys.argv[3]
    settings = dict(endpoint=sys.argv[1], spool_dir=sys.argv[2], instrumentations=False)
    botanu.init(**settings)
    _mp_worker.emit("parent", 3)
    ctx = multiprocessing.get_context(method)
    if method == "fork":
        processes = [ctx.Process(target=_mp_worker.emit, args=(f"proc{i}", 25)) for i in range(2)]
        pool = ctx.Pool(2)
    else:
        processes = [
            ctx.Process(target=_mp_worker.init_then_emit, args=(settings, f"proc{i}", 25)) for i in range(2)
        ]
        pool = ctx.Pool(2, initializer=_mp_worker.init_botanu, initargs=(settings,))
    for process in processes:
        process.start()
    for process in processes:
        process.join()
    pool.map(_mp_worker.emit_one_batch, [f"task{i}" for i in range(4)])
    pool.close()  # close + join: the workers leave through their normal exit path (terminate() kills them)
    pool.join()
    print(json.dumps({"codes": [p.exitcode for p in processes], "delivered": botanu.shutdown()}))

if __name__ == "__main__":
    main()
"""


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_multiprocessing_workers_deliver_all_their_spans(otlp_receiver, tmp_path, method):
    script = tmp_path / "mp_main.py"
    script.write_text(MULTIPROCESSING)
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "HOME": str(tmp_path), "BOTANU_SPOOL_DIR": ""}
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import runpy, sys; sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')",
            str(script),
            otlp_receiver.endpoint,
            str(tmp_path / "spool"),
            method,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=str(ROOT),
    )
    assert result.returncode == 0, result.stderr
    out = last_json(result.stdout)
    assert out["codes"] == [0, 0] and out["delivered"] is True, out
    expected = {f"parent-{i}" for i in range(3)}
    expected |= {f"proc{p}-{i}" for p in range(2) for i in range(25)}
    expected |= {f"task{t}-{i}" for t in range(4) for i in range(10)}
    otlp_receiver.wait_for(lambda r: len(r.spans()) >= len(expected), timeout=5)
    counts = event_ids(otlp_receiver)
    assert set(counts) == expected, expected ^ set(counts)
    assert set(counts.values()) == {1}


REPLAYER = (
    """
import json, sys, botanu
settings = botanu.init(endpoint=sys.argv[1], spool_dir=sys.argv[2], instrumentations=False)
"""
    + WAIT_FOR_EMPTY_SPOOL
    + """
botanu.shutdown()
print(json.dumps(botanu.stats()))
"""
)


def test_processes_sharing_a_spool_send_each_file_once(otlp_receiver, tmp_path, clean_botanu):
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from botanu._config import resolve_settings
    from botanu.export import OTLPHttpSpanExporter, spool_directory

    settings = resolve_settings({"endpoint": otlp_receiver.endpoint, "spool_dir": str(tmp_path / "spool")})
    spool = Spool(spool_directory(settings))
    exporter = OTLPHttpSpanExporter(otlp_receiver.endpoint, spool=spool)
    captured = InMemorySpanExporter()
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(captured))
    tracer = provider.get_tracer("t")
    for batch in range(30):
        for index in range(10):
            with tracer.start_as_current_span(f"b{batch}-{index}"):
                pass
        assert exporter.spool_spans(captured.get_finished_spans()).spooled == 10
        captured.clear()
    assert spool.span_count() == 300
    otlp_receiver.default = Reply(200, delay=0.01)  # interleave the three processes

    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                REPLAYER,
                otlp_receiver.endpoint,
                str(tmp_path / "spool"),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "HOME": str(tmp_path)},
            cwd=str(ROOT),
        )
        for _ in range(3)
    ]
    outputs = [process.communicate(timeout=60) for process in processes]
    stats = []
    for process, (stdout, stderr) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, stderr
        stats.append(last_json(stdout))
    assert all(s["balanced"] for s in stats)
    assert sum(s["replayed"] for s in stats) == 300
    names = Counter(s.name for s in otlp_receiver.spans())
    assert len(names) == 300 and set(names.values()) == {1}
    assert list(Path(spool.directory).glob("*.otlp*")) == []


BILLIARD_POOL = """
import json, os, sys, botanu, billiard
from botanu.export import _fork
from tests.delivery import _mp_worker

if __name__ == "__main__":
    settings = dict(endpoint=sys.argv[1], spool_dir=sys.argv[2], instrumentations=False)
    # celery's usual pattern: botanu.init() in each pool process (worker_process_init), not in the master.
    pool = billiard.Pool(2, initializer=_mp_worker.init_botanu, initargs=(settings,))
    pool.map(_mp_worker.emit_one_batch, [f"task{i}" for i in range(6)])
    pool.close()
    pool.join()  # the pool processes leave through os._exit
    wrapped = os._exit is not _fork._ORIGINAL_EXIT
    print(json.dumps({"main_is_worker": _fork._in_worker_process(), "exit_wrapped": wrapped}))
"""


def test_billiard_workers_that_init_botanu_themselves_flush_on_os_exit(otlp_receiver, tmp_path):
    pytest.importorskip("billiard")  # celery's pool (installed with celery, in the test extra)
    result = run_script(BILLIARD_POOL, otlp_receiver.endpoint, str(tmp_path / "spool"))
    assert result.returncode == 0, result.stderr
    out = last_json(result.stdout)
    assert out == {"main_is_worker": False, "exit_wrapped": False}, "the main process's os._exit means now"
    expected = {f"task{t}-{i}" for t in range(6) for i in range(10)}
    otlp_receiver.wait_for(lambda r: len(r.spans()) >= len(expected), timeout=5)
    counts = event_ids(otlp_receiver)
    assert set(counts) == expected, expected ^ set(counts)
    assert set(counts.values()) == {1}


def test_worker_detection_does_not_import_billiard(tmp_path):
    script = (
        "import json, sys, botanu\n"
        "botanu.init(endpoint=sys.argv[1], spool_dir=sys.argv[2], instrumentations=False)\n"
        "print(json.dumps('billiard' in sys.modules))\n"
    )
    result = run_script(script, endpoint_for(free_port()), str(tmp_path / "spool"))
    assert result.returncode == 0, result.stderr
    assert last_json(result.stdout) is False


FORKED_CHILD_COLLECTOR_DOWN = """
import os, sys, botanu
botanu.init(endpoint=sys.argv[1], spool=False, instrumentations=False, shutdown_timeout=1)
pid = os.fork()
if pid == 0:
    for i in range(30):
        with botanu.event(event_id=f"child-{i}", customer_id="c", workflow="Down"):
            pass
    os._exit(0)  # no atexit: the loss line must come from botanu's os._exit route
os.waitpid(pid, 0)
"""


def test_a_forked_child_leaving_through_os_exit_reports_what_it_lost(tmp_path):
    started = time.monotonic()
    result = run_script(FORKED_CHILD_COLLECTOR_DOWN, endpoint_for(free_port()))
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started < 1 + 4
    line = "30 span(s) were not delivered this run: 30 dropped (collector_unavailable: 30)"
    assert result.stderr.count(line) == 1, result.stderr
    assert result.stderr.count("not delivered this run") == 1, "the parent lost nothing"


# A server's graceful shutdown (uvicorn's): catch SIGTERM, finish, put the default action back and
# raise the signal again, so the process dies of it and atexit never runs.
SIGTERM_REREAISED = """
import os, signal, sys, threading, time, botanu
botanu.init(endpoint=sys.argv[1], spool_dir=sys.argv[2], instrumentations=False, shutdown_timeout=2)
for i in range(20):
    with botanu.event(event_id=f"term-{i}", customer_id="c", workflow="Term"):
        pass
def from_a_thread_that_blocks_it(sig):
    # os.kill signals the process: another thread (here the main one) takes and dies of it.
    def go():
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
        os.kill(os.getpid(), sig)
    thread = threading.Thread(target=go)
    thread.start()
    thread.join()
send = {
    "raise_signal": signal.raise_signal,
    "kill": lambda sig: os.kill(os.getpid(), sig),
    "kill from a thread that blocks it": from_a_thread_that_blocks_it,
}[sys.argv[3]]
caught = []
signal.signal(signal.SIGTERM, lambda signum, frame: caught.append(signum))
send(signal.SIGTERM)  # handled by the app: not an exit, so botanu does nothing
deadline = time.monotonic() + 5
while not caught and time.monotonic() < deadline:
    time.sleep(0.01)
signal.signal(signal.SIGTERM, signal.SIG_IGN)
send(signal.SIGTERM)  # ignored: not an exit either
print("still queued:", botanu.stats()["in_memory"], flush=True)
signal.signal(signal.SIGTERM, signal.SIG_DFL)
send(signal.SIGTERM)
print("survived", flush=True)
"""


@pytest.mark.skipif(not hasattr(signal, "SIGTERM") or sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize("how", ["raise_signal", "kill", "kill from a thread that blocks it"])
def test_a_process_dying_of_a_reraised_sigterm_flushes_first(otlp_receiver, tmp_path, how):
    result = run_script(
        SIGTERM_REREAISED,
        otlp_receiver.endpoint,
        str(tmp_path / "spool"),
        how,
        env={"OTEL_BSP_SCHEDULE_DELAY": "60000"},  # nothing leaves on a timer: only the exit flush sends
    )
    assert result.returncode == -signal.SIGTERM, (result.returncode, result.stdout, result.stderr)
    assert "still queued: 20" in result.stdout and "survived" not in result.stdout, result.stdout
    counts = event_ids(otlp_receiver)
    assert set(counts) == {f"term-{i}" for i in range(20)} and set(counts.values()) == {1}


# A signal handler runs on the main thread between two bytecodes, possibly while that thread holds
# one of botanu's locks (ending a span): its os._exit or re-raise must not wait for that lock.
EXIT_WHILE_LOCKED = """
import json, os, signal, sys, time, botanu
from botanu import _stats
botanu.init(endpoint=sys.argv[1], spool_dir=sys.argv[2], instrumentations=False, shutdown_timeout=1)
pid = os.fork()
if pid == 0:
    signal.alarm(10)  # should botanu hang here after all, the child still dies (of SIGALRM)
    with botanu.event(event_id="locked", customer_id="c", workflow="Locked"):
        pass
    _stats.lock.acquire()  # as if a SIGTERM handler had interrupted this thread inside the lock
    if sys.argv[3] == "os._exit":
        os._exit(7)
    signal.raise_signal(signal.SIGTERM)
started = time.monotonic()
_, status = os.waitpid(pid, 0)
print(json.dumps({"code": os.waitstatus_to_exitcode(status), "seconds": time.monotonic() - started}))
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
@pytest.mark.parametrize(("how", "code"), [("os._exit", 7), ("raise_signal", -signal.SIGTERM)])
def test_an_exit_from_code_holding_botanus_lock_ends_within_the_budget(otlp_receiver, tmp_path, how, code):
    result = run_script(EXIT_WHILE_LOCKED, otlp_receiver.endpoint, str(tmp_path / "spool"), how, timeout=20)
    assert result.returncode == 0, result.stderr
    out = last_json(result.stdout)
    assert out["code"] == code
    assert out["seconds"] < 1 + 1 + 1.5, "the budget (shutdown_timeout) plus a second, not forever"

"""SIGTERM from outside (docker stop, systemd, Kubernetes) to processes that do not handle it.

Each process ends its last span, says so, and is sent SIGTERM at once by the test, with a
batch delay of a minute so that nothing but the exit flush can deliver. gunicorn, uvicorn and
celery, which handle SIGTERM themselves, are stopped the same way in
``tests/zero_code/test_app_servers.py``.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
import urllib.request
from collections import Counter
from types import SimpleNamespace

import pytest

from tests.delivery._faults import endpoint_for, free_port, receiver_on
from tests.zero_code._support import BIN
from tests.zero_code.test_app_servers import ServerProcess, server_env

SCRIPT = textwrap.dedent(
    """
    import logging, signal, sys, time
    import botanu
    if "--init" in sys.argv:
        botanu.init(instrumentations=False)
    if "--own-handler" in sys.argv:
        def stop(signum, frame):
            print("app handler ran", flush=True)
            sys.exit(0)
        signal.signal(signal.SIGTERM, stop)
    for i in range(100):
        with botanu.event(event_id=f"ord-{i}", customer_id="c", workflow="Stop"):
            with botanu.step("work"):
                pass
    logging.getLogger("app").warning("last record before the signal")
    print("ready", flush=True)
    time.sleep(60)
    """
)


def start(tmp_path, receiver, *flags: str, botanu_run: bool = False, **env: str) -> ServerProcess:
    script = tmp_path / "app.py"
    script.write_text(SCRIPT)
    command = [sys.executable if not botanu_run else str(BIN / "python"), str(script), *flags]
    env.setdefault("OTEL_BLRP_SCHEDULE_DELAY", "60000")  # records too: only the exit flush delivers
    return ServerProcess(command, server_env(tmp_path, receiver, **env), tmp_path, botanu_run=botanu_run)


def stop_right_after_ready(process: ServerProcess) -> float:
    process.wait_for(r"^ready$")
    return process.terminate()


@pytest.mark.parametrize("how", ["init", "botanu-run"])
def test_sigterm_flushes_every_span_and_record_and_the_process_still_dies_of_it(tmp_path, otlp_receiver, how):
    process = start(tmp_path, otlp_receiver, *(["--init"] if how == "init" else []), botanu_run=how != "init")
    try:
        elapsed = stop_right_after_ready(process)
    finally:
        process.kill()
    assert process.process.returncode == -signal.SIGTERM, process.output
    assert elapsed < 5 + 1.5, elapsed  # within shutdown_timeout (+ the exit work's second)
    spans = otlp_receiver.wait_for_spans(200, timeout=5)
    assert Counter(s.name for s in spans) == {"botanu.run/Stop": 100, "botanu.step/work": 100}
    assert [r.body for r in otlp_receiver.wait_for_logs(1)] == ["last record before the signal"]


def test_sigterm_with_the_collector_down_spools_and_a_later_process_delivers(tmp_path):
    port = free_port()
    down = SimpleNamespace(endpoint=endpoint_for(port))
    process = start(tmp_path, down, "--init", BOTANU_SHUTDOWN_TIMEOUT="2")
    try:
        elapsed = stop_right_after_ready(process)
    finally:
        process.kill()
    assert process.process.returncode == -signal.SIGTERM
    assert elapsed < 2 + 1.5, elapsed
    assert "200 span(s) were not delivered this run: 200 kept in the spool" in process.output
    assert "1 log record(s) were not delivered this run: 1 kept in the spool" in process.output

    receiver = receiver_on(port)
    try:
        replay = start(tmp_path, receiver, "--init")
        try:
            stop_right_after_ready(replay)
        finally:
            replay.kill()
        spans = receiver.wait_for_spans(400, timeout=10)
    finally:
        receiver.close()
    counts = Counter(s.span_id for s in spans)
    assert len(counts) == 400 and set(counts.values()) == {1}


def test_an_app_handler_installed_after_init_keeps_control(tmp_path, otlp_receiver):
    process = start(tmp_path, otlp_receiver, "--init", "--own-handler")
    try:
        stop_right_after_ready(process)
    finally:
        process.kill()
    assert "app handler ran" in process.output
    assert process.process.returncode == 0  # the app chose sys.exit(0); its atexit flush delivered
    assert len(otlp_receiver.wait_for_spans(200, timeout=5)) == 200


def test_handle_signals_off_leaves_sigterm_as_python_has_it(tmp_path, otlp_receiver):
    process = start(tmp_path, otlp_receiver, "--init", BOTANU_HANDLE_SIGNALS="0")
    try:
        stop_right_after_ready(process)
    finally:
        process.kill()
    assert process.process.returncode == -signal.SIGTERM
    time.sleep(0.5)
    assert otlp_receiver.spans() == []  # what botanu's handler saves is lost without it


FLASK_APP = textwrap.dedent(
    """
    from flask import Flask
    import botanu
    app = Flask(__name__)

    @app.get("/orders/<oid>")
    def order(oid):
        with botanu.event(event_id=oid, customer_id="c", workflow="Order"):
            return {"id": oid}

    if __name__ == "__main__":
        import sys
        print("serving", flush=True)
        app.run(host="127.0.0.1", port=int(sys.argv[1]))
    """
)


def test_flask_dev_server_under_botanu_run_flushes_on_sigterm(tmp_path, otlp_receiver):
    port = free_port()
    (tmp_path / "app.py").write_text(FLASK_APP)
    process = ServerProcess(
        [str(BIN / "python"), str(tmp_path / "app.py"), str(port)],
        server_env(tmp_path, otlp_receiver),
        tmp_path,
    )
    try:
        process.wait_for(r"serving")
        deadline = time.monotonic() + 15
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/orders/o-7", timeout=2) as response:
                    assert response.status == 200
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        process.terminate()
    finally:
        process.kill()
    assert process.process.returncode == -signal.SIGTERM, process.output
    names = Counter(s.name for s in otlp_receiver.wait_for_spans(2, timeout=5))
    assert names["botanu.run/Order"] == 1
    assert names["GET /orders/<oid>"] == 1


POOL_APP = textwrap.dedent(
    """
    import multiprocessing, sys
    import botanu
    botanu.init(instrumentations=False)

    def work(i):
        with botanu.event(event_id=f"job-{i}", customer_id="c", workflow="Pool"):
            pass
        return i

    if __name__ == "__main__":
        multiprocessing.set_start_method(sys.argv[1])
        with multiprocessing.Pool(2) as pool:  # __exit__ terminates the workers with SIGTERM
            print(sum(pool.map(work, range(20))), flush=True)
    """
)


@pytest.mark.parametrize("start_method", ["fork", "spawn"])
def test_pool_as_a_context_manager_delivers_every_worker_span(tmp_path, otlp_receiver, start_method):
    (tmp_path / "pool_app.py").write_text(POOL_APP)
    env = server_env(tmp_path, otlp_receiver)
    result = subprocess.run(
        [sys.executable, str(tmp_path / "pool_app.py"), start_method],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "190"
    spans = otlp_receiver.wait_for_spans(20, timeout=5)
    events = sorted(s.attributes["botanu.event_id"] for s in spans)
    assert events == sorted(f"job-{i}" for i in range(20)), result.stderr

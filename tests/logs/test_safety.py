"""Nothing secret leaves in a log, no record goes out twice, the app's console output is unchanged,
and no logging call raises because of botanu."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import botanu

pytestmark = pytest.mark.usefixtures("clean_logging")
ROOT = Path(__file__).resolve().parents[2]

GITHUB_TOKEN = "ghp_R4nd0mT0k3nV4lu3F0rT3st1ngPurp0s3sXY"
PASSWORD = "Tr0ub4dorHorseStaple"
CARD = "4111111111111111"


def test_planted_secrets_never_reach_the_wire_and_ordinary_text_is_kept(
    botanu_init, otlp_receiver, app_logger
):
    botanu_init()
    app_logger.warning("login for alice with password=%s via token %s", PASSWORD, GITHUB_TOKEN)
    app_logger.warning("order shipped", extra={"api_key": "k-" + PASSWORD, "card": CARD, "note": "fragile"})
    try:
        raise ConnectionError(f"https://bob:{PASSWORD}@db.internal/x?token={GITHUB_TOKEN}")
    except ConnectionError:
        app_logger.exception("db unreachable")
    logger = botanu.Logger()
    logger.error(
        "upstream", error_message=f"Authorization: Bearer {GITHUB_TOKEN}", stack_trace=f"pw={PASSWORD}"
    )
    botanu.force_flush(5)

    wire = b"".join(otlp_receiver.raw_bodies())
    for secret in (GITHUB_TOKEN, PASSWORD, CARD):
        assert secret.encode() not in wire, secret
    records = {r.body.split(" ")[0]: r for r in otlp_receiver.logs()}
    assert records["order"].attributes["note"] == "fragile"
    assert records["login"].body.startswith("login for alice with password=")
    assert records["db"].attributes["exception.type"] == "ConnectionError"
    assert "db.internal" in records["db"].attributes["exception.message"]
    assert records["login"].attributes["botanu.redaction.count"] >= 1


def test_redaction_off_exports_as_logged(botanu_init, otlp_receiver, app_logger):
    botanu_init(redaction=False)
    app_logger.warning("password=%s", PASSWORD)
    botanu.force_flush(5)
    assert otlp_receiver.logs()[0].body == f"password={PASSWORD}"


def test_an_sdk_logging_handler_already_on_root_is_replaced_not_doubled(
    botanu_init, otlp_receiver, app_logger
):
    from opentelemetry.sdk._logs import LoggingHandler

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        sdk_handler = LoggingHandler()
    logging.root.addHandler(sdk_handler)
    botanu_init()
    assert sdk_handler not in logging.root.handlers
    app_logger.warning("exported once")
    botanu.force_flush(5)
    assert [r.body for r in otlp_receiver.logs()] == ["exported once"]


def test_the_contrib_logging_instrumentation_adds_no_second_copy(botanu_init, otlp_receiver, app_logger):
    from opentelemetry.instrumentation.logging import LoggingInstrumentor

    botanu_init()
    instrumentor = LoggingInstrumentor()
    instrumentor.instrument(set_logging_format=False)  # adds its exporting handler to root, after botanu's
    try:
        app_logger.warning("exported once")
        app_logger.warning("still once")
        botanu.force_flush(5)
        assert sorted(r.body for r in otlp_receiver.logs()) == ["exported once", "still once"]
    finally:
        instrumentor.uninstrument()


def run_child(code: str, **env_extra: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "BOTANU_"))}
    env.update(env_extra)
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_console_output_of_an_app_without_handlers_is_unchanged():
    app = """
        import logging, sys
        {setup}
        logging.getLogger("shop").warning("low stock")
        logging.getLogger("shop").info("not shown: below root's WARNING")
        try:
            1 / 0
        except ZeroDivisionError:
            logging.getLogger("shop").exception("boom")
        sys.stderr.flush()
        """
    plain = run_child(app.format(setup="pass"))
    with_botanu = run_child(
        app.format(setup="import botanu; botanu.init(endpoint='http://127.0.0.1:9/v1/traces', spool=False)")
    )
    assert plain.returncode == with_botanu.returncode == 0
    assert "low stock" in plain.stderr and "ZeroDivisionError" in plain.stderr
    app_lines = [line for line in with_botanu.stderr.splitlines() if not line.startswith("botanu:")]
    assert app_lines == plain.stderr.splitlines()


def test_basic_config_after_init_still_configures_the_console():
    child = run_child(
        """
        import logging, botanu
        botanu.init(endpoint="http://127.0.0.1:9/v1/traces", spool=False)
        logging.basicConfig(level=logging.INFO, format="APP %(levelname)s %(message)s")
        logging.getLogger("shop").info("configured by the app")
        print(sorted(type(h).__name__ for h in logging.root.handlers))
        """
    )
    assert child.returncode == 0, child.stderr
    assert "APP INFO configured by the app" in child.stderr
    assert child.stdout.strip() == "['StreamHandler']"


def test_a_record_logged_just_before_exit_is_delivered_without_a_shutdown_call(otlp_receiver):
    child = run_child(
        f"""
        import logging, botanu
        botanu.init(endpoint="{otlp_receiver.endpoint}", instrumentations=False)
        logging.getLogger("shop").warning("last words")
        """
    )
    assert child.returncode == 0, child.stderr
    assert [r.body for r in otlp_receiver.wait_for_logs(1)] == ["last words"]


LOG_ARGUMENTS = st.one_of(
    st.text(max_size=50),
    st.integers(),
    st.floats(allow_nan=True),
    st.binary(max_size=20),
    st.none(),
    st.lists(st.integers(), max_size=5),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
)
_RECORD_FIELDS = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}
EXTRA_KEYS = st.text(min_size=1, max_size=10).filter(lambda key: key not in _RECORD_FIELDS)
HUGE = st.integers(10_000, 200_000).map(lambda size: "x" * size)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    message=st.one_of(st.text(max_size=80), st.integers(), st.none(), st.just("%s %d %(x)s %")),
    args=st.lists(LOG_ARGUMENTS, max_size=3),
    extra=st.dictionaries(EXTRA_KEYS, st.one_of(LOG_ARGUMENTS, HUGE, st.builds(object)), max_size=4),
)
def test_no_logging_call_raises_into_the_app(botanu_init, otlp_receiver, app_logger, message, args, extra):
    if not any(type(h).__name__ == "BotanuLoggingHandler" for h in logging.root.handlers):
        botanu_init()
    # Only botanu's handler on root: pytest's own capture handler re-raises bad format arguments.
    logging.root.handlers[:] = [
        h for h in logging.root.handlers if type(h).__name__ == "BotanuLoggingHandler"
    ]
    app_logger.warning(message, *args, extra=extra)
    logger = botanu.Logger()
    logger.error(message, extra=extra, exc_info=True)
    logger.info(message, extra=extra)
    assert botanu.stats()["logs"]["balanced"]


def test_werkzeug_still_prints_its_banner_after_init(tmp_path):
    import socket
    import time

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    app = textwrap.dedent(
        f"""
        import botanu
        from flask import Flask
        botanu.init(endpoint="http://127.0.0.1:9/v1/traces", spool=False, instrumentations=False)
        Flask(__name__).run(host="127.0.0.1", port={port})
        """
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "BOTANU_"))}
    process = subprocess.Popen(
        [sys.executable, "-c", app], cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 20
        seen = ""
        assert process.stderr is not None
        while "Running on" not in seen and time.monotonic() < deadline:
            line = process.stderr.readline()
            if not line:
                break
            seen += line
        assert f"Running on http://127.0.0.1:{port}" in seen, seen
    finally:
        process.kill()
        process.wait(10)

"""structlog and loguru feed the same pipeline; the console prints records inside their trace."""

from __future__ import annotations

import io
import subprocess
import sys
import textwrap

import pytest

import botanu
from botanu.logs import loguru_sink, structlog_processor

pytestmark = pytest.mark.usefixtures("clean_logging")


def test_structlog_events_are_exported_with_their_keys_and_exception(botanu_init, otlp_receiver):
    structlog = pytest.importorskip("structlog")
    botanu_init()
    out = io.StringIO()
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog_processor,
            structlog.processors.KeyValueRenderer(),
        ],
        logger_factory=structlog.PrintLoggerFactory(out),
        cache_logger_on_first_use=False,
    )
    try:
        log = structlog.get_logger()
        with botanu.event(workflow="Struct", event_id="e", customer_id="c"):
            log.warning("stock low", sku="A-1", left=3)
            try:
                raise KeyError("A-2")
            except KeyError:
                log.exception("lookup failed", sku="A-2")
    finally:
        structlog.reset_defaults()
    botanu.force_flush(5)
    records = {r.body: r for r in otlp_receiver.logs()}
    assert records["stock low"].severity_text == "WARN"
    assert records["stock low"].attributes["sku"] == "A-1" and records["stock low"].attributes["left"] == 3
    assert records["stock low"].trace_id == otlp_receiver.span("botanu.run/Struct").trace_id
    assert records["lookup failed"].attributes["exception.type"] == "KeyError"
    assert "botanu.error.fingerprint" in records["lookup failed"].attributes
    assert "stock low" in out.getvalue()  # the chain went on to the renderer


def test_loguru_records_are_exported_through_the_sink(botanu_init, otlp_receiver):
    loguru = pytest.importorskip("loguru")
    botanu_init()
    sink_id = loguru.logger.add(loguru_sink, level="DEBUG")
    try:
        with botanu.event(workflow="Guru", event_id="e", customer_id="c"):
            loguru.logger.bind(order_id="o-9").info("paid")
            try:
                raise ZeroDivisionError("division by zero")
            except ZeroDivisionError:
                loguru.logger.exception("math failed")
    finally:
        loguru.logger.remove(sink_id)
    botanu.force_flush(5)
    records = {r.body: r for r in otlp_receiver.logs()}
    assert records["paid"].attributes["order_id"] == "o-9"
    assert records["paid"].severity_number == 9
    assert records["paid"].span_id == otlp_receiver.span("botanu.run/Guru").span_id
    assert records["math failed"].attributes["exception.type"] == "ZeroDivisionError"
    assert records["math failed"].severity_text == "ERROR"


def test_adapters_are_inert_without_their_libraries():
    code = textwrap.dedent(
        """
        import sys
        sys.modules["structlog"] = None
        sys.modules["loguru"] = None
        import botanu
        from botanu.logs import loguru_sink, structlog_processor
        event = {"event": "x"}
        assert structlog_processor(None, "info", event) is event
        print("ok")
        """
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_console_prints_records_inside_their_trace_tree(botanu_init, otlp_receiver, app_logger, capsys):
    botanu_init(console=True)
    with botanu.event(workflow="Tree", event_id="e", customer_id="c"):
        with botanu.step("pack"):
            app_logger.warning("box too small token=ghp_R4nd0mT0k3nV4lu3F0rT3st1ngPurp0s3sXY")
    app_logger.warning("outside")
    botanu.force_flush(5)
    err = capsys.readouterr().err
    tree = err[err.index("botanu.run/Tree") :]
    lines = tree.splitlines()
    step_line = next(i for i, line in enumerate(lines) if "botanu.step/pack" in line)
    assert "· WARN box too small token=" in lines[step_line + 1]
    assert "ghp_R4nd0m" not in err  # the console shows what is exported: redacted
    assert "· WARN outside" in err

"""botanu.Logger: TraceHub's API, its four ways to describe an error, and its settings."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import botanu

pytestmark = pytest.mark.usefixtures("clean_logging")
ROOT = Path(__file__).resolve().parents[2]


def one(receiver, body):
    matches = [r for r in receiver.logs() if r.body == body]
    assert len(matches) == 1, [r.body for r in receiver.logs()]
    return matches[0]


def charge(order_id: int) -> None:
    raise ValueError(f"card declined for order {order_id}")


@pytest.mark.parametrize(
    ("method", "number", "text"),
    [
        ("debug", 5, "DEBUG"),
        ("info", 9, "INFO"),
        ("warn", 13, "WARN"),
        ("warning", 13, "WARN"),
        ("error", 17, "ERROR"),
        ("fatal", 21, "FATAL"),
        ("critical", 21, "FATAL"),
    ],
)
def test_every_level_is_exported_whatever_the_stdlib_levels(botanu_init, otlp_receiver, method, number, text):
    botanu_init(log_level="DEBUG")
    logger = botanu.Logger()
    getattr(logger, method)(f"via {method}", module="billing", extra={"order_id": 7})
    botanu.force_flush(5)
    record = one(otlp_receiver, f"via {method}")
    assert (record.severity_number, record.severity_text) == (number, text)
    assert record.attributes["botanu.module"] == "billing"
    assert record.attributes["order_id"] == 7
    assert record.scope == "botanu.logger"
    assert (
        record.attributes["code.function.name"] == "test_every_level_is_exported_whatever_the_stdlib_levels"
    )


def test_a_logger_record_is_exported_once_and_correlated(botanu_init, otlp_receiver):
    botanu_init()
    logger = botanu.Logger()
    with botanu.event(workflow="Pay", event_id="p-1", customer_id="c-1"):
        logger.info("inside the run")
    botanu.force_flush(5)
    record = one(otlp_receiver, "inside the run")
    run = otlp_receiver.span("botanu.run/Pay")
    assert record.trace_id == run.trace_id and record.span_id == run.span_id
    assert record.attributes["botanu.run_id"] == run.attributes["botanu.run_id"]


def test_error_way_one_the_exception_being_handled(botanu_init, otlp_receiver):
    botanu_init()
    logger = botanu.Logger()
    try:
        charge(41)
    except ValueError:
        logger.error("payment failed", exc_info=True, module="billing")
    botanu.force_flush(5)
    attributes = one(otlp_receiver, "payment failed").attributes
    assert attributes["exception.type"] == "ValueError"
    assert attributes["exception.message"] == "card declined for order 41"
    assert "in charge" in attributes["exception.stacktrace"]
    assert len(attributes["botanu.error.fingerprint"]) == 32


def test_error_way_two_an_exception_object(botanu_init, otlp_receiver):
    botanu_init()
    logger = botanu.Logger()
    try:
        charge(42)
    except ValueError as error:
        caught = error
    logger.error("query failed", exception=caught)  # outside the except block: from __traceback__
    botanu.force_flush(5)
    attributes = one(otlp_receiver, "query failed").attributes
    assert attributes["exception.type"] == "ValueError"
    assert "in charge" in attributes["exception.stacktrace"]


def test_error_way_three_the_callers_stack_outside_an_except_block(botanu_init, otlp_receiver):
    botanu_init()
    logger = botanu.Logger()

    def check_balance() -> None:
        logger.error("negative balance", exc_info=True, module="accounts")

    check_balance()
    botanu.force_flush(5)
    attributes = one(otlp_receiver, "negative balance").attributes
    assert "exception.type" not in attributes
    stack = attributes["code.stacktrace"]
    assert "in check_balance" in stack and "in test_error_way_three" in stack
    assert "botanu/logs" not in stack  # botanu's own frames are not the caller's
    assert stack.rstrip().endswith('logger.error("negative balance", exc_info=True, module="accounts")')
    assert len(attributes["botanu.error.fingerprint"]) == 32


def test_error_way_four_explicit_values_override(botanu_init, otlp_receiver):
    botanu_init()
    logger = botanu.Logger()
    try:
        charge(43)
    except ValueError:
        logger.fatal(
            "upstream failed",
            exc_info=True,
            error_message="503 Service Unavailable",
            stack_trace="Traceback: upstream frames",
        )
    botanu.force_flush(5)
    attributes = one(otlp_receiver, "upstream failed").attributes
    assert attributes["exception.message"] == "503 Service Unavailable"
    assert attributes["exception.stacktrace"] == "Traceback: upstream frames"
    assert attributes["exception.type"] == "ValueError"


def test_info_ignores_error_keywords_it_does_not_take(botanu_init, otlp_receiver):
    botanu_init()
    logger = botanu.Logger()
    with pytest.raises(TypeError):
        logger.info("x", exc_info=True)  # type: ignore[call-arg]  # TraceHub's info has no exc_info


def test_closed_logger_exports_nothing_and_does_not_raise(botanu_init, otlp_receiver):
    botanu_init()
    logger = botanu.Logger()
    assert logger.close(5) is True
    logger.info("after close")
    botanu.force_flush(5)
    assert otlp_receiver.logs() == []


def test_bad_extra_and_message_never_raise(botanu_init, otlp_receiver):
    botanu_init()
    logger = botanu.Logger()

    class Boom:
        def __str__(self):
            raise RuntimeError("boom")

    logger.info(Boom(), extra="not a mapping")  # type: ignore[arg-type]
    logger.warn("ok", extra={Boom(): Boom()})
    botanu.force_flush(5)
    bodies = [r.body for r in otlp_receiver.logs()]
    assert "ok" in bodies and any("Boom object" in b for b in bodies)


def run_child(code: str, env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith(("OTEL_", "BOTANU_"))}
    env.update(env_extra or {})
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_tracehub_settings_configure_botanu_when_it_is_not_initialised(otlp_receiver, tmp_path):
    base = otlp_receiver.endpoint.rsplit("/v1/traces", 1)[0]
    child = run_child(
        f"""
        import json, botanu
        from botanu import _pipeline
        log = botanu.Logger("th_key_123", "order-service", "production", "{base}",
                            batch_size=10, flush_interval=0.2, max_buffer=100, timeout=3.0,
                            compress=True, dlq_path={str(tmp_path / "dlq")!r})
        settings = _pipeline.active_settings()
        log.info("configured by the logger")
        log.close()
        print(json.dumps([settings.service_name, settings.environment, settings.endpoint,
                          settings.export_timeout, settings.compression, settings.spool_dir]))
        """
    )
    assert child.returncode == 0, child.stderr
    service, environment, endpoint, timeout, compression, spool_dir = json.loads(
        child.stdout.splitlines()[-1]
    )
    assert (service, environment, endpoint) == ("order-service", "production", otlp_receiver.endpoint)
    assert (timeout, compression, spool_dir) == (3.0, "gzip", str(tmp_path / "dlq"))
    record = one(otlp_receiver, "configured by the logger")
    assert record.resource["service.name"] == "order-service"
    assert otlp_receiver.log_requests[0].headers["authorization"] == "Bearer th_key_123"


def test_tracehub_settings_after_init_are_named_in_one_warning(botanu_init, otlp_receiver, caplog):
    botanu_init()
    with caplog.at_level(logging.WARNING, logger="botanu"):
        botanu.Logger(api_key="k", service="other", batch_size=5)
    warnings = [r.getMessage() for r in caplog.records if "not applied" in r.getMessage()]
    assert len(warnings) == 1
    assert "api_key" in warnings[0] and "service_name" in warnings[0] and "batch_size" in warnings[0]

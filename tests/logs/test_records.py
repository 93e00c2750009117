"""stdlib logging records on the wire: correlation, severities, extras, code location, scope, resource."""

from __future__ import annotations

import logging

import pytest

import botanu

pytestmark = pytest.mark.usefixtures("clean_logging")


def by_body(receiver, body):
    matches = [r for r in receiver.logs() if r.body == body]
    assert len(matches) == 1, [r.body for r in receiver.logs()]
    return matches[0]


def test_a_record_carries_the_active_span_and_the_runs_attributes(botanu_init, otlp_receiver, app_logger):
    botanu_init(service_name="shop")
    with botanu.event(workflow="Checkout", event_id="ord-1", customer_id="cust-9"):
        with botanu.step("charge"):
            app_logger.info("charging card")
    app_logger.info("outside any run")
    botanu.force_flush(5)

    record = by_body(otlp_receiver, "charging card")
    step = otlp_receiver.span("botanu.step/charge")
    run = otlp_receiver.span("botanu.run/Checkout")
    assert record.trace_id == step.trace_id and record.span_id == step.span_id
    assert record.flags & 0x01  # sampled
    for key in ("botanu.run_id", "botanu.workflow", "botanu.event_id", "botanu.customer_id"):
        assert record.attributes[key] == run.attributes[key], key
    assert record.attributes["botanu.step"] == "charge"
    assert record.resource["service.name"] == "shop" == run.resource["service.name"]
    assert record.scope == "shop.app"

    outside = by_body(otlp_receiver, "outside any run")
    assert outside.trace_id == "" and outside.span_id == ""
    assert "botanu.run_id" not in outside.attributes


@pytest.mark.parametrize(
    ("level", "number", "text"),
    [
        (logging.DEBUG, 5, "DEBUG"),
        (logging.INFO, 9, "INFO"),
        (logging.WARNING, 13, "WARN"),
        (logging.ERROR, 17, "ERROR"),
        (logging.CRITICAL, 21, "FATAL"),
        (25, 12, "INFO4"),
    ],
)
def test_severity_follows_the_otel_data_model(botanu_init, otlp_receiver, app_logger, level, number, text):
    botanu_init(log_level="DEBUG")
    app_logger.setLevel(logging.DEBUG)
    app_logger.log(level, "at level %d", level)
    botanu.force_flush(5)
    record = by_body(otlp_receiver, f"at level {level}")
    assert (record.severity_number, record.severity_text) == (number, text)


def test_body_is_the_formatted_message_and_extras_become_attributes(botanu_init, otlp_receiver, app_logger):
    class NoStr:
        def __str__(self):
            raise RuntimeError("no")

    botanu_init()
    app_logger.info(
        "order %s has %d items",
        "ord-7",
        3,
        extra={"order_id": "ord-7", "total": 49.5, "tags": ["a", "b"], "nested": {"k": 1}, "weird": NoStr()},
    )
    botanu.force_flush(5)
    record = by_body(otlp_receiver, "order ord-7 has 3 items")
    attributes = record.attributes
    assert attributes["order_id"] == "ord-7"
    assert attributes["total"] == 49.5
    assert attributes["tags"] == ("a", "b")
    assert attributes["nested"] == '{"k": 1}'
    assert attributes["weird"].startswith("<NoStr object")
    assert (
        attributes["code.function.name"] == "test_body_is_the_formatted_message_and_extras_become_attributes"
    )
    assert attributes["code.file.path"].endswith("test_records.py")
    assert isinstance(attributes["code.line.number"], int)
    assert "msg" not in attributes and "args" not in attributes  # LogRecord internals are not extras


def test_log_level_is_the_lowest_exported_and_app_levels_are_untouched(
    botanu_init, otlp_receiver, app_logger
):
    root_level = logging.root.level
    botanu_init(log_level="WARNING")
    assert logging.root.level == root_level
    assert app_logger.level == logging.INFO
    app_logger.info("info is below botanu's level")
    app_logger.warning("warning is exported")
    botanu.force_flush(5)
    assert [r.body for r in otlp_receiver.logs()] == ["warning is exported"]


def test_root_default_level_holds_back_info_from_unconfigured_loggers(botanu_init, otlp_receiver):
    botanu_init()
    plain = logging.getLogger("shop.unconfigured")
    plain.info("held back by root's WARNING, as without botanu")
    plain.warning("passes")
    botanu.force_flush(5)
    assert [r.body for r in otlp_receiver.logs()] == ["passes"]


@pytest.mark.parametrize(
    "switch", [{"logs": False}, {"env": ("BOTANU_LOGS", "0")}, {"env": ("OTEL_LOGS_EXPORTER", "none")}]
)
def test_logs_off_exports_no_record_while_spans_flow(
    botanu_init, otlp_receiver, app_logger, monkeypatch, switch
):
    if "env" in switch:
        monkeypatch.setenv(*switch["env"])
        botanu_init()
    else:
        botanu_init(logs=False)
    handlers = list(logging.root.handlers)
    with botanu.event(workflow="W", event_id="e", customer_id="c"):
        app_logger.warning("not exported")
    botanu.force_flush(5)
    assert otlp_receiver.wait_for_spans(1)
    assert otlp_receiver.log_requests == []
    assert not any(type(h).__name__ == "BotanuLoggingHandler" for h in handlers)


def test_botanus_own_and_the_exporters_log_lines_are_never_exported(botanu_init, otlp_receiver, app_logger):
    botanu_init()
    logging.getLogger("botanu").warning("botanu's own warning")
    logging.getLogger("opentelemetry.sdk").warning("sdk warning")
    logging.getLogger("urllib3.connectionpool").warning("Retrying (Retry(total=0))")
    app_logger.warning("the app's")
    botanu.force_flush(5)
    assert [r.body for r in otlp_receiver.logs()] == ["the app's"]


def test_second_init_adds_no_second_handler(botanu_init, otlp_receiver, app_logger):
    botanu_init()
    botanu_init()
    assert not any(type(h).__name__ == "BotanuLoggingHandler" for h in logging.root.handlers)
    app_logger.warning("once")
    botanu.force_flush(5)
    assert [r.body for r in otlp_receiver.logs()] == ["once"]


def test_the_apps_root_handlers_are_untouched_and_shutdown_stops_export(
    botanu_init, otlp_receiver, app_logger
):
    before = list(logging.root.handlers)
    botanu_init()
    assert logging.root.handlers == before  # botanu works at the root without joining its handlers
    app_logger.warning("exported")
    botanu.shutdown(2)
    assert logging.root.handlers == before
    app_logger.warning("after shutdown")
    assert [r.body for r in otlp_receiver.logs()] == ["exported"]


def test_dict_config_after_init_keeps_records_flowing(botanu_init, otlp_receiver, app_logger):
    import logging.config

    botanu_init()
    logging.config.dictConfig(
        {"version": 1, "root": {"level": "INFO", "handlers": []}, "disable_existing_loggers": False}
    )
    app_logger.warning("after dictConfig")
    botanu.force_flush(5)
    assert [r.body for r in otlp_receiver.logs()] == ["after dictConfig"]


def test_a_logger_that_does_not_propagate_is_not_exported(botanu_init, otlp_receiver):
    botanu_init()
    private = logging.getLogger("shop.private")
    private.propagate = False
    private.addHandler(logging.NullHandler())
    try:
        private.warning("kept to itself")
        logging.getLogger("shop.public").warning("reaches the root")
    finally:
        private.propagate = True
        private.handlers.clear()
    botanu.force_flush(5)
    assert [r.body for r in otlp_receiver.logs()] == ["reaches the root"]


def test_stats_account_for_records(botanu_init, otlp_receiver, app_logger):
    botanu_init()
    for index in range(20):
        app_logger.warning("record %d", index)
    botanu.force_flush(5)
    books = botanu.stats()["logs"]
    assert books["records_queued"] == 20 and books["exported"] == 20
    assert books["balanced"] and books["pending"] == 0
    assert botanu.stats()["spans_queued"] == 0  # records are not counted as spans

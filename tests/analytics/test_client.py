"""The Analytics client: defaults, super-properties, flush on exit (scripts, serverless), shutdown."""

from __future__ import annotations

import asyncio
import logging

import pytest

import botanu
from botanu import flows
from botanu.analytics import Analytics


@pytest.fixture(autouse=True)
def clean_flows():
    flows._reset_for_tests()
    yield
    flows._reset_for_tests()


def names(receiver) -> list[str]:
    return [span.name for span in receiver.spans()]


def test_with_block_flushes_on_exit_without_force_flush(botanu_init, otlp_receiver):
    botanu_init()
    with Analytics(distinct_id="cron") as analytics:
        analytics.track("cron_finished")
        assert otlp_receiver.spans() == []  # batched, not yet sent
    # Delivered when the block exited: no botanu.force_flush() here.
    assert names(otlp_receiver) == ["botanu.track/cron_finished"]
    assert otlp_receiver.spans()[0].attributes["enduser.id"] == "cron"


def test_super_properties_and_defaults(botanu_init, otlp_receiver):
    botanu_init()
    analytics = Analytics(distinct_id="system", properties={"app_version": "2.3", "platform": "web"})
    analytics.track("a", properties={"platform": "ios", "n": 1})
    analytics.track("b", "user_9")
    analytics.identify(properties={"plan": "pro"})
    assert analytics.flush()
    spans = {span.name: span.attributes for span in otlp_receiver.spans()}
    assert spans["botanu.track/a"]["botanu.properties.platform"] == "ios"  # the call wins
    assert spans["botanu.track/a"]["botanu.properties.app_version"] == "2.3"
    assert spans["botanu.track/a"]["botanu.properties.n"] == 1
    assert spans["botanu.track/b"]["enduser.id"] == "user_9"
    assert spans["botanu.identify"]["enduser.id"] == "system"
    assert "botanu.properties.app_version" not in spans["botanu.identify"]  # event props, not user traits


def test_serverless_handler_flushes_each_invocation_and_stays_usable(botanu_init, otlp_receiver):
    botanu_init()
    analytics = Analytics()

    def handler(event: dict) -> dict:
        with analytics:
            analytics.track("lambda_invoked", event["user_id"])
        return {"statusCode": 200}

    for user in ("u1", "u2"):
        assert handler({"user_id": user}) == {"statusCode": 200}
        assert len(otlp_receiver.spans()) == (1 if user == "u1" else 2)


def test_flush_also_emits_due_flow_verdicts(botanu_init, otlp_receiver):
    botanu_init()
    flows.configure(timer=False)
    flows.define_flow("f", ["a", {"id": "b", "dep_ids": ["a"], "timeout": 0.001}])
    flows.act("a", "f", "r1")
    import time

    time.sleep(0.005)
    assert Analytics().flush()
    verdicts = [s for s in otlp_receiver.spans() if s.name == "botanu.flow.run"]
    assert [v.attributes["botanu.flow.verdict"] for v in verdicts] == ["failed"]


def test_async_with_flushes_without_blocking_the_loop(botanu_init, otlp_receiver):
    botanu_init()

    async def main() -> None:
        async with Analytics(distinct_id="u") as analytics:
            analytics.track("async_event")

    asyncio.run(main())
    assert names(otlp_receiver) == ["botanu.track/async_event"]


def test_shutdown_flushes_then_ignores_calls(botanu_init, otlp_receiver, caplog):
    botanu_init()
    analytics = Analytics(distinct_id="u")
    analytics.track("before")
    assert analytics.shutdown()
    assert names(otlp_receiver) == ["botanu.track/before"]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="botanu"):
        analytics.track("after")
        analytics.identify()
    assert "called after shutdown()" in caplog.text
    botanu.force_flush(5)
    assert names(otlp_receiver) == ["botanu.track/before"]
    assert botanu.force_flush(1)  # botanu's own pipeline keeps running


def test_bad_constructor_arguments_fall_back(botanu_init, caplog):
    botanu_init()
    with caplog.at_level(logging.WARNING, logger="botanu"):
        analytics = Analytics(properties=["x"], flush_timeout=-1)
    assert analytics.properties == {} and analytics.flush_timeout == 5.0
    assert "properties must be a mapping" in caplog.text and "flush_timeout" in caplog.text


def test_code_written_for_the_serla_client_keeps_running(botanu_init, otlp_receiver, caplog):
    botanu_init()
    with caplog.at_level(logging.WARNING, logger="botanu"):
        client = Analytics("sk_live_abc", host="https://serla.dev", batch_size=10, flush_interval_seconds=1)
        client.track("signed_up", "u-1")
    message = next(r.getMessage() for r in caplog.records if "Serla client settings" in r.getMessage())
    assert "api_key, host, flush_interval_seconds, batch_size" in message
    assert "sk_live_abc" not in caplog.text
    assert isinstance(client.pending_count(), int)
    assert client.flush()
    assert client.pending_count() == 0
    assert otlp_receiver.span("botanu.track/signed_up").attributes["enduser.id"] == "u-1"


def test_flush_before_init_is_harmless_and_says_nothing_was_delivered(clean_botanu, caplog):
    with caplog.at_level(logging.WARNING, logger="botanu"):
        with Analytics(distinct_id="cron") as client:
            client.track("ran")
        assert client.flush() is False
    assert "before botanu.init(): nothing was recorded or delivered" in caplog.text

"""Logs with no code: `botanu run` and opentelemetry-instrument export the app's logging records,
once each, also with the contrib logging instrumentation installed (it is, in the test extra)."""

from __future__ import annotations

import textwrap
from collections import Counter

import pytest

from tests.zero_code._support import BIN, clean_env, run

APP = textwrap.dedent(
    """
    import logging, botanu
    log = logging.getLogger("shop")
    log.setLevel(logging.INFO)
    with botanu.event(event_id="ord-1", customer_id="c", workflow="ZeroLogs"):
        log.info("inside the run")
        try:
            {}["missing"]
        except KeyError:
            log.exception("lookup failed")
    log.warning("after the run password=%s", "Tr0ub4dorHorseStaple")
    print("app done")
    """
)


@pytest.mark.parametrize(
    ("launcher", "app"),
    [
        ("botanu-run", APP),
        ("opentelemetry-instrument", APP),
        ("botanu-run", APP.replace("import logging, botanu", "import logging, botanu\nbotanu.init()")),
    ],
    ids=["botanu-run", "opentelemetry-instrument", "init-in-app-under-botanu-run"],
)
def test_an_apps_logging_records_are_exported_once_with_no_code(launcher, app, tmp_path, otlp_receiver):
    script = tmp_path / "app.py"
    script.write_text(app)
    env = clean_env(BOTANU_ENDPOINT=otlp_receiver.endpoint, BOTANU_SERVICE_NAME="zero-logs")
    if launcher == "botanu-run":
        command = [str(BIN / "botanu"), "run", "--", str(BIN / "python"), str(script)]
    else:
        env["OTEL_PYTHON_DISTRO"] = "botanu"
        command = [str(BIN / "opentelemetry-instrument"), str(BIN / "python"), str(script)]
    result = run(command, env, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "app done" in result.stdout

    records = otlp_receiver.wait_for_logs(3)
    # The password is masked (however the mask reads), the rest of the message kept.
    bodies = Counter(
        r.body.split("password=")[0] + ("password=" if "password=" in r.body else "") for r in records
    )
    assert bodies == Counter({"inside the run": 1, "lookup failed": 1, "after the run password=": 1}), bodies
    assert not any("Tr0ub4dorHorseStaple" in r.body for r in records)
    run_span = otlp_receiver.span("botanu.run/ZeroLogs")
    inside = next(r for r in records if r.body == "inside the run")
    assert inside.trace_id == run_span.trace_id and inside.span_id == run_span.span_id
    assert inside.resource["service.name"] == "zero-logs"
    failed = next(r for r in records if r.body == "lookup failed")
    assert failed.attributes["exception.type"] == "KeyError"
    assert not any("otelTraceID" in r.attributes for r in records)


def test_botanu_logs_off_under_botanu_run(tmp_path, otlp_receiver):
    script = tmp_path / "app.py"
    script.write_text(APP)
    env = clean_env(BOTANU_ENDPOINT=otlp_receiver.endpoint, BOTANU_LOGS="0")
    result = run([str(BIN / "botanu"), "run", "--", str(BIN / "python"), str(script)], env, tmp_path)
    assert result.returncode == 0, result.stderr
    assert otlp_receiver.wait_for_spans(1)
    assert otlp_receiver.log_requests == []

"""Settings precedence and validation (explicit > BOTANU_* > OTEL_* > default)."""

from __future__ import annotations

import logging

import pytest

from botanu._config import DEFAULT_ENDPOINT, resolve_settings
from botanu._safety import BotanuUsageError, set_strict


@pytest.fixture(autouse=True)
def not_strict():
    set_strict(False)
    yield
    set_strict(None)


def test_defaults():
    s = resolve_settings({}, {})
    assert s.endpoint == DEFAULT_ENDPOINT
    assert s.compression == "gzip"
    assert s.console is False
    assert s.content_capture_rate == 0.0
    assert s.redaction is True and s.redaction_mode == "mask"
    assert s.sources["endpoint"] == "default"


@pytest.mark.parametrize(
    ("explicit", "env", "expected", "source"),
    [
        (
            {"endpoint": "http://arg:1/v1/traces"},
            {"BOTANU_ENDPOINT": "http://b:2/x"},
            "http://arg:1/v1/traces",
            "argument",
        ),
        (
            {},
            {"BOTANU_ENDPOINT": "http://b:2/x", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://o:3/y"},
            "http://b:2/x",
            "BOTANU_ENDPOINT",
        ),
        (
            {},
            {
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://o:3/custom",
                "OTEL_EXPORTER_OTLP_ENDPOINT": "http://p:4",
            },
            "http://o:3/custom",
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        ),
        (
            {},
            {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://p:4/"},
            "http://p:4/v1/traces",
            "OTEL_EXPORTER_OTLP_ENDPOINT",
        ),
        ({}, {}, DEFAULT_ENDPOINT, "default"),
    ],
)
def test_endpoint_precedence(explicit, env, expected, source):
    s = resolve_settings(explicit, env)
    assert s.endpoint == expected
    assert s.sources["endpoint"] == source


def test_same_precedence_for_other_settings():
    env = {
        "BOTANU_SERVICE_NAME": "from-botanu",
        "OTEL_SERVICE_NAME": "from-otel",
        "BOTANU_CONSOLE": "yes",
        "OTEL_EXPORTER_OTLP_TIMEOUT": "2.5",
        "OTEL_EXPORTER_OTLP_HEADERS": "x-team=a%20b,x-env=prod",
    }
    s = resolve_settings({"console": False}, env)
    assert s.service_name == "from-botanu"
    assert s.console is False and s.sources["console"] == "argument"
    assert s.export_timeout == 2.5
    assert s.headers == {"x-team": "a b", "x-env": "prod"}
    assert resolve_settings({}, {"OTEL_SERVICE_NAME": "from-otel"}).service_name == "from-otel"
    assert resolve_settings({}, {"OTEL_RESOURCE_ATTRIBUTES": "service.name=res,team=x"}).service_name == "res"


def test_bad_value_names_setting_and_source_then_falls_back(caplog):
    with caplog.at_level(logging.ERROR, logger="botanu"):
        s = resolve_settings(
            {},
            {
                "BOTANU_CONTENT_CAPTURE_RATE": "lots",
                "BOTANU_ENDPOINT": "ftp://x",
                "OTEL_EXPORTER_OTLP_ENDPOINT": "http://good:4318",
            },
        )
    assert s.content_capture_rate == 0.0
    assert s.endpoint == "http://good:4318/v1/traces"
    messages = [r.getMessage() for r in caplog.records]
    assert any("'content_capture_rate' from BOTANU_CONTENT_CAPTURE_RATE: 'lots'" in m for m in messages)
    assert any(
        "'endpoint' from BOTANU_ENDPOINT" in m and "OTEL_EXPORTER_OTLP_ENDPOINT instead" in m
        for m in messages
    )
    assert all("\n" not in m for m in messages)


def test_bad_value_raises_in_strict_mode():
    set_strict(True)
    with pytest.raises(BotanuUsageError, match="content_capture_rate"):
        resolve_settings({"content_capture_rate": 7}, {})


def test_secret_values_never_logged(caplog):
    with caplog.at_level(logging.DEBUG, logger="botanu"):
        resolve_settings({}, {"BOTANU_HEADERS": "authorization Bearer sk-live-123"})
    text = " ".join(r.getMessage() for r in caplog.records)
    assert "'headers' from BOTANU_HEADERS" in text
    assert "sk-live-123" not in text


def test_userinfo_removed_from_endpoint_with_warning(caplog):
    with caplog.at_level(logging.WARNING, logger="botanu"):
        s = resolve_settings({"endpoint": "https://alice:hunter2@collector.example:4318/v1/traces"}, {})
    assert s.endpoint == "https://collector.example:4318/v1/traces"
    text = " ".join(r.getMessage() for r in caplog.records)
    assert "credentials" in text
    assert "hunter2" not in text and "alice" not in text


def test_describe_masks_secrets():
    s = resolve_settings({"api_key": "sk-secret-value", "headers": {"x-token": "abc"}}, {})
    described = s.describe()
    assert "sk-secret-value" not in str(described)
    assert "abc" not in str(described)
    assert described["api_key"].startswith("***")


def test_unknown_setting_warns(caplog):
    with caplog.at_level(logging.WARNING, logger="botanu"):
        resolve_settings({"endpont": "http://x"}, {})
    assert any("unknown setting 'endpont'" in r.getMessage() for r in caplog.records)


def test_header_values_may_hold_a_tab_but_no_line_breaks(caplog):
    tabbed = resolve_settings({}, {"BOTANU_HEADERS": "authorization=Bearer abc,x-note=a%09b"})
    assert tabbed.headers == {"authorization": "Bearer abc", "x-note": "a\tb"}
    with caplog.at_level(logging.WARNING, logger="botanu"):
        broken = resolve_settings({"headers": {"x-note": "a\r\nx-injected: 1"}}, {})
    assert broken.headers == {} and "control characters" in caplog.text


def test_an_invalid_value_is_shown_without_its_secrets_and_the_default_is_named(caplog):
    import logging

    from botanu._config import resolve_settings

    key = "sk-live-abcdefghijklmnop1234"
    token = "ghp_R4nd0mT0k3nV4lu3F0rT3st1ngPurp0s3sXY"
    endpoint = f"collector.internal:4318/v1/traces?api_key={key}&token={token}"
    with caplog.at_level(logging.ERROR, logger="botanu"):
        settings = resolve_settings({"endpoint": endpoint})
    text = caplog.text
    assert key not in text and "ghp_R4nd0m" not in text
    assert "collector.internal:4318" in text  # the mistake itself stays readable
    assert "using the default ('http://localhost:4318/v1/traces')" in text
    assert settings.endpoint == "http://localhost:4318/v1/traces"

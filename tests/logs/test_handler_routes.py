"""botanu's handler stores plain values directly only where the SDK would store them unchanged."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from opentelemetry.sdk._logs import LoggerProvider, LogRecordLimits, LogRecordProcessor

from botanu.logs import _handler
from botanu.logs._handler import BotanuLoggingHandler


class Keep(LogRecordProcessor):
    def __init__(self) -> None:
        self.records: list[Any] = []

    def on_emit(self, log_record: Any) -> None:
        self.records.append(log_record)

    emit = on_emit

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def _log(limits: LogRecordLimits | None = None, **extra: Any) -> Any:
    keep = Keep()
    provider = LoggerProvider(log_record_limits=limits, shutdown_on_exit=False)
    provider.add_log_record_processor(keep)
    app = logging.Logger("app.routes", logging.INFO)
    app.addHandler(BotanuLoggingHandler(provider, logging.INFO))
    app.warning("charged %s", "ord_1", extra=extra)
    (record,) = keep.records
    return record


def _both_routes(monkeypatch: pytest.MonkeyPatch, limits: LogRecordLimits | None = None, **extra: Any):
    """(the record as the handler makes it, the same through the SDK's public route, direct or not)."""
    verdicts: list[bool] = []
    judge = _handler._stored_unchanged

    def spy(attributes: dict[str, Any], maxlen: Any) -> bool:
        verdicts.append(judge(attributes, maxlen))
        return verdicts[-1]

    monkeypatch.setattr(_handler, "_stored_unchanged", spy)
    first = _log(limits, **extra)
    monkeypatch.setattr(_handler, "_direct_route", lambda otel_logger: None)
    public = _log(limits, **extra)
    return first, public, verdicts == [True]


def _view(writable: Any) -> tuple:
    record = writable.log_record
    attributes = dict(record.attributes)
    attributes.pop("code.line.number")  # the two calls are on different lines
    return (
        record.body,
        record.severity_text,
        record.severity_number,
        attributes,
        writable.dropped_attributes,
        writable.resource,
        writable.instrumentation_scope,
        type(record.attributes),
    )


def test_plain_values_give_the_record_the_public_route_gives(monkeypatch: pytest.MonkeyPatch) -> None:
    direct, public, was_direct = _both_routes(
        monkeypatch, order="ord_1", amount=129.95, attempt=2, retried=False
    )
    assert was_direct
    assert _view(direct) == _view(public)
    assert direct.log_record.attributes["amount"] == 129.95
    assert _writable(direct) == _writable(public)


def _writable(writable: Any) -> bool:
    try:
        writable.log_record.attributes["late"] = 1
    except TypeError:
        return False
    return writable.log_record.attributes["late"] == 1


@pytest.mark.filterwarnings("ignore::opentelemetry.sdk._logs.LogRecordDroppedAttributesWarning")
@pytest.mark.parametrize(
    ("limits", "extra"),
    [
        (LogRecordLimits(max_attribute_length=3), {"order": "ord_1"}),
        (LogRecordLimits(max_attributes=2), {"order": "ord_1", "amount": 1.5}),
        (None, {"items": ["a", "b"], "order": "ord_1"}),
        (None, {"": "empty key", "order": "ord_1"}),
    ],
    ids=["value length limit", "count limit", "a list value", "an empty key"],
)
def test_where_the_sdk_would_change_something_the_record_takes_its_route(
    monkeypatch: pytest.MonkeyPatch, limits: LogRecordLimits | None, extra: dict[str, Any]
) -> None:
    first, public, was_direct = _both_routes(monkeypatch, limits, **extra)
    assert not was_direct
    assert _view(first) == _view(public)

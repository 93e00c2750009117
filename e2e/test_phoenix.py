"""End to end against a real backend: botanu -> (gzip OTLP/HTTP) -> Arize Phoenix -> Phoenix's REST API.

One fresh Python process runs ``botanu_program.py``: a run ``Checkout`` with a step ``fetch-order``
(a ``requests`` call to a loopback server, instrumented by botanu without code) and a step
``charge`` that raises an exception whose message holds a password (the URL of the HTTP call holds
an API key). botanu exports through a recording proxy, which checks what crossed the wire and
forwards the same bytes to Phoenix. The tests then read the trace back from Phoenix's REST API and
from its sqlite files. No mocks: every hop is a real socket on 127.0.0.1.

Run with ``make e2e`` (skipped unless ``BOTANU_PHOENIX`` names Phoenix's ``phoenix`` command).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.trace.v1.trace_pb2 import Span
from phoenix_harness import Phoenix, RecordedExport, RecordingProxy

pytestmark = pytest.mark.timeout(300)  # Phoenix's start-up counts against the first test

PROGRAM = Path(__file__).with_name("botanu_program.py")
PROJECT = "botanu-e2e"
PASSWORD = "Hunter2-e2e-6b1f0c"
API_KEY = "e2eApiKey94d1c7a3"
INGEST_TIMEOUT = 30.0  # Phoenix ingests asynchronously: poll its REST API this long

RUN = "botanu.run/Checkout"
FETCH = "botanu.step/fetch-order"
CHARGE = "botanu.step/charge"
HTTP = "GET"  # the HTTP client span is named after the method (OTel HTTP semantic conventions)


@dataclass
class Checkout:
    printed: dict[str, Any]  # what the program printed
    spans: dict[str, dict[str, Any]]  # Phoenix's spans of the trace, by name
    raw: str  # Phoenix's REST answer, as text
    exports: list[RecordedExport]  # what crossed the wire

    @property
    def trace_id(self) -> str:
        return self.printed["trace_id"]

    def span_id(self, name: str) -> str:
        return self.printed["span_ids"][name]


def _run_program(endpoint: str, spool: Path) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BOTANU_", "OTEL_"))}
    env.update(BOTANU_SPOOL_DIR=str(spool / "spool"), XDG_CACHE_HOME=str(spool / "cache"))
    config = {"endpoint": endpoint, "project": PROJECT, "password": PASSWORD, "api_key": API_KEY}
    done = subprocess.run(
        [sys.executable, str(PROGRAM), json.dumps(config)],
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert done.returncode == 0, f"the botanu program failed:\n{done.stdout}\n{done.stderr}"
    printed = json.loads(done.stdout.strip().splitlines()[-1])
    assert printed["delivered"] is True, f"botanu.shutdown() reported spans not delivered:\n{done.stderr}"
    printed["stderr"] = done.stderr
    return printed


def _wait_for_spans(phoenix: Phoenix, trace_id: str, expected: set[str]) -> tuple[list[dict[str, Any]], str]:
    """Poll Phoenix until every expected span id of the trace is queryable; (spans, raw JSON text)."""
    deadline = time.monotonic() + INGEST_TIMEOUT
    last: Any = None
    while True:
        status, body = phoenix.get_json(f"/v1/projects/{PROJECT}/spans", trace_id=trace_id, limit=1000)
        last = (status, body)
        # 404 until the project's first span is ingested.
        if status == 200:
            spans = body["data"]
            if expected <= {span["context"]["span_id"] for span in spans}:
                assert body.get("next_cursor") is None, "the trace does not fit in one page"
                return spans, json.dumps(body)
        elif status != 404:
            pytest.fail(f"Phoenix's REST API answered {status}: {body}")
        if time.monotonic() > deadline:
            pytest.fail(
                f"the trace was not queryable in Phoenix within {INGEST_TIMEOUT:.0f} s; last answer: "
                f"{last}\n{phoenix.logs()}"
            )
        time.sleep(0.25)


@pytest.fixture(scope="module")
def checkout(
    phoenix: Phoenix, recording_proxy: RecordingProxy, tmp_path_factory: pytest.TempPathFactory
) -> Checkout:
    printed = _run_program(recording_proxy.endpoint, tmp_path_factory.mktemp("program"))
    # The HTTP client span's id is the parent id in the traceparent the loopback server received.
    (received,) = printed["server_received"]
    version, trace_id, parent_id, _flags = received["traceparent"].split("-")
    assert (version, trace_id) == ("00", printed["trace_id"]), received
    printed["span_ids"][HTTP] = parent_id

    spans, raw = _wait_for_spans(phoenix, printed["trace_id"], set(printed["span_ids"].values()))
    print(f"Phoenix's spans of trace {printed['trace_id']}:\n{json.dumps(spans, indent=2)}")
    by_name: dict[str, dict[str, Any]] = {}
    for span in spans:
        assert span["name"] not in by_name, f"two spans named {span['name']!r}: {spans}"
        by_name[span["name"]] = span
    return Checkout(printed, by_name, raw, recording_proxy.snapshot())


def _status_code(attributes: dict[str, Any]) -> Any:
    return attributes.get("http.response.status_code", attributes.get("http.status_code"))


# --------------------------------------------------------------------------- on the wire


def test_export_arrives_gzip_encoded_and_decodes(checkout: Checkout) -> None:
    assert checkout.exports, "no export request reached the proxy"
    wire_spans = {}
    for export in checkout.exports:
        assert export.path == "/v1/traces"
        assert export.headers.get("content-encoding") == "gzip", export.headers
        assert export.headers.get("content-type") == "application/x-protobuf", export.headers
        assert export.headers.get("x-project-name") == PROJECT
        assert export.body[:2] == b"\x1f\x8b", "the body is not a gzip stream"
        assert export.decode_error is None, export.decode_error
        assert export.request is not None
        assert export.upstream_status == 200, (export.upstream_status, export.upstream_body)
        for resource_spans in export.request.resource_spans:
            resource = {kv.key: kv.value.string_value for kv in resource_spans.resource.attributes}
            assert resource["service.name"] == "botanu-e2e"
            assert resource["deployment.environment.name"] == "e2e"
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    wire_spans[span.name] = (span.trace_id.hex(), span.span_id.hex(), span.kind)
    ids = checkout.printed["span_ids"]
    kinds = {RUN: Span.SPAN_KIND_SERVER, FETCH: Span.SPAN_KIND_INTERNAL, CHARGE: Span.SPAN_KIND_INTERNAL}
    kinds[HTTP] = Span.SPAN_KIND_CLIENT
    assert wire_spans == {name: (checkout.trace_id, ids[name], kind) for name, kind in kinds.items()}


# --------------------------------------------------------------------------- in Phoenix


def test_phoenix_has_every_span_with_its_ids(checkout: Checkout) -> None:
    assert set(checkout.spans) == {RUN, FETCH, CHARGE, HTTP}
    for name, span in checkout.spans.items():
        assert span["context"] == {"trace_id": checkout.trace_id, "span_id": checkout.span_id(name)}, name


def test_parent_links_and_nesting_in_time(checkout: Checkout) -> None:
    spans = checkout.spans
    assert spans[RUN]["parent_id"] is None
    assert spans[FETCH]["parent_id"] == checkout.span_id(RUN)
    assert spans[CHARGE]["parent_id"] == checkout.span_id(RUN)
    assert spans[HTTP]["parent_id"] == checkout.span_id(FETCH)  # the step the call ran in
    start = {name: datetime.fromisoformat(span["start_time"]) for name, span in spans.items()}
    end = {name: datetime.fromisoformat(span["end_time"]) for name, span in spans.items()}
    for child, parent in ((FETCH, RUN), (CHARGE, RUN), (HTTP, FETCH)):
        assert start[parent] <= start[child] <= end[child] <= end[parent], (child, parent)
    assert end[FETCH] <= start[CHARGE]


def test_run_attributes_reach_every_span(checkout: Checkout) -> None:
    run_identity = {
        "botanu.run_id": checkout.printed["run_id"],
        "botanu.workflow": "Checkout",
        "botanu.event_id": "order-7",
        "botanu.customer_id": "cus_42",
        "botanu.environment": "e2e",
    }
    for name, span in checkout.spans.items():
        attributes = span["attributes"]
        assert {key: attributes.get(key) for key in run_identity} == run_identity, name
    assert re.fullmatch(
        r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", checkout.printed["run_id"]
    )
    assert checkout.spans[FETCH]["attributes"]["botanu.step"] == "fetch-order"
    assert checkout.spans[CHARGE]["attributes"]["botanu.step"] == "charge"
    assert checkout.spans[HTTP]["attributes"]["botanu.step"] == "fetch-order"
    assert "botanu.step" not in checkout.spans[RUN]["attributes"]
    assert checkout.spans[RUN]["attributes"]["botanu.outcome.status"] == "success"
    assert checkout.spans[RUN]["status_code"] != "ERROR"  # the exception was caught inside the run
    assert checkout.spans[FETCH]["status_code"] != "ERROR"


def test_http_client_span(checkout: Checkout) -> None:
    span = checkout.spans[HTTP]
    attributes = span["attributes"]
    assert _status_code(attributes) == 200, attributes
    assert attributes.get("http.request.method", attributes.get("http.method")) == "GET"
    url = attributes.get("url.full", attributes.get("http.url"))
    assert url is not None and "/orders/7?" in url and "api_key=" in url and "expand=items" in url, url
    assert span["status_code"] != "ERROR"


def test_exception_step_is_error_with_exception_event(checkout: Checkout) -> None:
    span = checkout.spans[CHARGE]
    assert span["status_code"] == "ERROR"
    assert span["status_message"].startswith("PaymentDeclinedError: card declined for order 7; password="), (
        span
    )
    (event,) = [event for event in span["events"] if event["name"] == "exception"]
    attributes = event["attributes"]
    assert attributes["exception.type"].endswith("PaymentDeclinedError")
    assert attributes["exception.message"].startswith("card declined for order 7; password=")
    assert "raise PaymentDeclinedError" in attributes["exception.stacktrace"]
    assert re.fullmatch(r"[0-9a-f]{32}", span["attributes"]["botanu.error.fingerprint"])
    timestamps = (span["start_time"], event["timestamp"], span["end_time"])
    start, when, end = (datetime.fromisoformat(value) for value in timestamps)
    assert start <= when <= end


# --------------------------------------------------------------------------- redaction


@pytest.mark.parametrize("secret", [PASSWORD, API_KEY])
def test_redacted_secret_is_not_stored(checkout: Checkout, phoenix: Phoenix, secret: str) -> None:
    stored = phoenix.stored_bytes()
    # Control: Phoenix's database files, read raw, do hold the trace.
    assert checkout.printed["run_id"].encode() in stored and checkout.trace_id.encode() in stored
    assert all(export.decoded is not None for export in checkout.exports)
    leaks = []
    if any(secret.encode() in (export.decoded or b"") for export in checkout.exports):
        leaks.append("the export requests botanu sent")
    if secret in checkout.raw:
        leaks.append("Phoenix's REST answer")
    if secret.encode() in stored:
        leaks.append("Phoenix's sqlite files")
    assert leaks == [], f"the secret {secret!r} is in " + ", ".join(leaks)


def test_redaction_keeps_the_names(checkout: Checkout) -> None:
    # Control: the real request carried the API key; only its copy in the telemetry was redacted.
    (received,) = checkout.printed["server_received"]
    assert f"api_key={API_KEY}" in received["path"]
    http = checkout.spans[HTTP]["attributes"]
    url = http.get("url.full", http.get("http.url"))
    assert "api_key=" in url and API_KEY not in url, url
    charge = checkout.spans[CHARGE]
    assert "password=" in charge["status_message"] and PASSWORD not in charge["status_message"]
    for span in (checkout.spans[HTTP], charge):
        assert span["attributes"]["botanu.redaction.count"] >= 1

"""botanu.error.fingerprint: stable across processes, different per type and call site, shared by
the log record and the failed run's span."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import traceback
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import botanu
from botanu.logs._fingerprint import fingerprint_exception, fingerprint_text, normalise_message, type_name

pytestmark = pytest.mark.usefixtures("clean_logging")
ROOT = Path(__file__).resolve().parents[2]

# A child that fails twice at one call site with different ids, once at another, once with another
# type, and prints the fingerprints of the four records it exported.
CHILD = """
import json, logging, sys, uuid, botanu
from tests.support.otlp_receiver import OTLPReceiver
receiver = OTLPReceiver()
botanu.init(endpoint=receiver.endpoint, instrumentations=False)
log = logging.getLogger("shop")

def load_order(order_id, kind=KeyError):
    raise kind(f"order {order_id} for user {uuid.uuid4()} at 0x{id(object()):x} not found")

def site_a(order_id, kind=KeyError):
    try:
        load_order(order_id, kind)
    except Exception:
        log.exception("lookup failed")

def site_b(order_id):
    try:
        load_order(order_id)
    except Exception:
        log.exception("lookup failed")

site_a(int(sys.argv[1]))
site_a(int(sys.argv[1]) + 1000)
site_b(7)
site_a(8, LookupError)
botanu.force_flush(5)
print(json.dumps([r.attributes["botanu.error.fingerprint"] for r in receiver.logs()]))
"""


def run_child(order_id: int) -> list[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "BOTANU_"))}
    env["PYTHONHASHSEED"] = str(order_id)  # another process in every way that could leak in
    child = subprocess.run(
        [sys.executable, "-c", CHILD, str(order_id)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert child.returncode == 0, child.stderr
    return json.loads(child.stdout.splitlines()[-1])


def test_stable_across_processes_and_different_per_type_and_call_site():
    first = run_child(11)
    second = run_child(923)
    assert first == second  # other ids, other uuids, other addresses, other process: same ids
    same_site, other_id, other_site, other_type = first
    assert same_site == other_id
    assert len({same_site, other_site, other_type}) == 3
    assert all(len(f) == 32 and int(f, 16) >= 0 for f in first)


def failing_call() -> None:
    raise RuntimeError("charge 4242 refused for bob@example.com")


def test_the_failed_run_span_and_the_record_share_one_fingerprint(botanu_init, otlp_receiver, app_logger):
    botanu_init()
    with pytest.raises(RuntimeError), botanu.event(workflow="Charge", event_id="e", customer_id="c"):
        try:
            failing_call()
        except RuntimeError:
            app_logger.exception("charge failed")
            raise
    botanu.force_flush(5)
    run = otlp_receiver.span("botanu.run/Charge")
    record = otlp_receiver.logs()[0]
    assert run.attributes["botanu.error.fingerprint"] == record.attributes["botanu.error.fingerprint"]


def test_a_foreign_span_with_an_exception_event_gets_the_same_fingerprint(botanu_init, otlp_receiver):
    from opentelemetry import trace

    botanu_init()
    tracer = trace.get_tracer("someone.else")
    try:
        failing_call()
    except RuntimeError as error:
        expected = fingerprint_exception(error)
        with tracer.start_as_current_span("their span") as span:
            span.record_exception(error)
    botanu.force_flush(5)
    assert otlp_receiver.span("their span").attributes["botanu.error.fingerprint"] == expected


def test_text_and_live_paths_agree_for_chained_exceptions():
    import traceback

    try:
        try:
            failing_call()
        except RuntimeError as inner:
            raise ValueError("wrapped 17") from inner
    except ValueError as outer:
        text = "".join(traceback.format_exception(outer))
        assert fingerprint_text(type_name(ValueError), str(outer), text) == fingerprint_exception(outer)


@pytest.mark.parametrize(
    ("message", "normalised"),
    [
        ("user 550e8400-e29b-41d4-a716-446655440000 missing", "user <uuid> missing"),
        ("mail bob.smith@example.co.uk bounced", "mail <email> bounced"),
        ("at 2026-12-04T10:00:00Z and 2026-12-04 10:00", "at <ts> and <ts>"),
        ("object at 0x7f3a2b1c and deadbeef1234", "object at <hex> and <hex>"),
        ("key 'alpha' and \"beta\" bad", "key <str> and <str> bad"),
        ("retry 3 of 10 after 2.5s", "retry <num> of <num> after <num>s"),
        ("GET https://api.example.com/v1/orders/9 failed", "GET <url> failed"),
        ("peer 10.0.0.1:8080 reset", "peer <ip> reset"),
    ],
)
def test_message_normalisation(message, normalised):
    assert normalise_message(message) == normalised


@given(st.text(max_size=300), st.integers(), st.integers())
def test_numbers_never_change_the_fingerprint(prefix, first, second):
    one = fingerprint_text("E", f"{prefix} id {first}", "")
    two = fingerprint_text("E", f"{prefix} id {second}", "")
    assert one == two


def _recurse(depth: int) -> None:
    if depth == 0:
        raise RecursionError("too deep")
    _recurse(depth - 1)


def test_text_and_live_paths_agree_for_a_traceback_deeper_than_the_frames_read():
    # 300 frames: both paths read the innermost 64 (the text path used to read them all).
    try:
        _recurse(300)
    except RecursionError as error:
        live = fingerprint_exception(error)
        text = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    assert fingerprint_text(type_name(RecursionError), "too deep", text) == live


def test_a_huge_stack_trace_text_is_read_only_at_its_tail():
    # 2 MB of frames before the innermost ones: the fingerprint depends on the tail alone, so
    # its cost is bounded whatever the text's size (span.end() computes it on the app thread).
    frame = '  File "/srv/app/shop/level{n}.py", line 1, in step{n}\n    step()\n'
    head = "".join(frame.format(n=n) for n in range(30_000))
    tail = "".join(frame.format(n=n) for n in range(64))
    huge = "Traceback (most recent call last):\n" + head + tail + "ValueError: no\n"
    small = "Traceback (most recent call last):\n" + tail + "ValueError: no\n"
    assert len(huge) > 2_000_000
    assert fingerprint_text("ValueError", "no", huge) == fingerprint_text("ValueError", "no", small)

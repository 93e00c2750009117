"""Each wire fault, at the wire: attempts, timing windows, spool contents, stats, conservation.

Timings come from ``FAST_RETRY`` (1 s retry window, 50-200 ms backoff), so every
window asserted here is the production rule scaled down, not a sleep.
"""

from __future__ import annotations

import email.utils
import itertools
import logging
import time
from dataclasses import replace

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.sdk.trace import TracerProvider

from botanu import _stats
from botanu._config import resolve_settings
from botanu._safety import BotanuUsageError, set_strict
from botanu.export import Replayer, Spool, build_delivery
from botanu.export import _spool_file as fmt
from tests.delivery._faults import ResettingProxy, endpoint_for, free_port
from tests.delivery.conftest import FAST_RETRY, assert_accounted
from tests.support.otlp_receiver import Reply


def spooled_span_ids(spool: Spool) -> list[str]:
    """Span ids inside the spool's files, decoded from the stored OTLP requests."""
    import gzip

    ids = []
    for entry in spool.files():
        record = fmt.decode((spool.directory / entry.name).read_bytes())
        body = gzip.decompress(record.payload) if record.gzipped else record.payload
        request = ExportTraceServiceRequest.FromString(body)
        for resource_spans in request.resource_spans:
            for scope_spans in resource_spans.scope_spans:
                ids.extend(span.span_id.hex() for span in scope_spans.spans)
    return ids


def received_ids(receiver) -> list[str]:
    return sorted(span.span_id for span in receiver.spans())


# --------------------------------------------------------------------------- 200


def test_200_delivers_each_span_once_gzip_protobuf(make_pipeline, otlp_receiver):
    pipeline = make_pipeline(otlp_receiver.endpoint)
    ids = pipeline.spans(5)
    assert pipeline.flush() is True
    assert received_ids(otlp_receiver) == sorted(ids)
    [request] = otlp_receiver.requests
    assert request.headers["content-encoding"] == "gzip" and request.raw[:2] == b"\x1f\x8b"
    assert request.headers["content-type"] == "application/x-protobuf"
    snap = assert_accounted(pipeline.spool)
    assert (snap["spans_queued"], snap["exported"], snap["spooled"], snap["pending"]) == (5, 5, 0, 0)
    assert pipeline.spool.files() == []


def test_compression_none_sends_plain_protobuf(make_pipeline, otlp_receiver):
    pipeline = make_pipeline(otlp_receiver.endpoint)
    pipeline.exporter._compression = "none"
    pipeline.spans(1)
    assert pipeline.flush()
    assert "content-encoding" not in otlp_receiver.requests[0].headers


# --------------------------------------------------------------------------- 503


def test_503_then_200_is_retried_after_a_backoff(make_pipeline, otlp_receiver):
    otlp_receiver.script([Reply(503), Reply(200)])
    pipeline = make_pipeline(otlp_receiver.endpoint)
    ids = pipeline.spans(3)
    assert pipeline.flush() is True  # retried within the window: nothing failed
    first, second = otlp_receiver.requests
    assert (first.reply.status, second.reply.status) == (503, 200)
    assert first.body == second.body, "a retry resends the identical request"
    gap = second.at - first.at
    assert FAST_RETRY.base / 2 - 0.01 <= gap < FAST_RETRY.cap + 0.3, gap
    assert received_ids(otlp_receiver) == sorted(ids)
    snap = assert_accounted(pipeline.spool)
    assert snap["exported"] == 3 and snap["spooled"] == 0


def test_503_throughout_the_window_spools_then_replays_once(make_pipeline, otlp_receiver):
    otlp_receiver.default = Reply(503)
    pipeline = make_pipeline(otlp_receiver.endpoint, replay=False)
    ids = pipeline.spans(4)
    started = time.monotonic()
    assert pipeline.flush() is False
    elapsed = time.monotonic() - started
    assert FAST_RETRY.window - 0.3 < elapsed < FAST_RETRY.window + 1.0, elapsed
    attempts = len(otlp_receiver.requests)
    assert attempts >= 3, attempts  # 50-200 ms backoff in a 1 s window
    assert len({r.body for r in otlp_receiver.requests}) == 1
    # The batch is on disk, whole, and the counters say so.
    assert sorted(spooled_span_ids(pipeline.spool)) == sorted(ids)
    snap = assert_accounted(pipeline.spool)
    assert (snap["exported"], snap["spooled"], snap["spool_pending"]) == (0, 4, 4)
    assert pipeline.flush() is True, "the failure was reported once; nothing failed since"

    # The collector recovers: replay sends the file once, and the spool is empty.
    otlp_receiver.default = Reply(200)
    time.sleep(pipeline.exporter.health.seconds_until_probe())
    assert Replayer(pipeline.spool, pipeline.exporter).replay_one() is True
    assert received_ids(otlp_receiver) == sorted(ids)
    snap = assert_accounted(pipeline.spool)
    assert (snap["replayed"], snap["spool_pending"], snap["pending"]) == (4, 0, 0)
    assert pipeline.spool.files() == []


def test_while_down_further_batches_skip_the_network(make_pipeline, otlp_receiver):
    otlp_receiver.default = Reply(503)
    slow_probe = replace(FAST_RETRY, probe_base=5.0, probe_cap=5.0)
    pipeline = make_pipeline(otlp_receiver.endpoint, retry=slow_probe, replay=False)
    pipeline.spans(2)
    pipeline.flush()
    requests_after_first = len(otlp_receiver.requests)
    started = time.monotonic()
    for _ in range(5):
        pipeline.spans(2)
        assert pipeline.flush() is False
    assert time.monotonic() - started < 0.5, "no batch waited out its own retries"
    assert len(otlp_receiver.requests) == requests_after_first
    snap = assert_accounted(pipeline.spool)
    assert snap["spooled"] == 12 and len(pipeline.spool.files()) == 6


# --------------------------------------------------------------------------- 429 + Retry-After


def test_429_retry_after_seconds_is_honoured(make_pipeline, otlp_receiver):
    otlp_receiver.script([Reply(429, headers={"Retry-After": "1"}), Reply(200)])
    pipeline = make_pipeline(otlp_receiver.endpoint, retry=replace(FAST_RETRY, window=3.0))
    ids = pipeline.spans(2)
    assert pipeline.flush() is True
    first, second = otlp_receiver.requests
    assert 0.95 <= second.at - first.at < 1.5, second.at - first.at
    assert received_ids(otlp_receiver) == sorted(ids)
    assert_accounted(pipeline.spool)


def test_429_retry_after_http_date_is_honoured(make_pipeline, otlp_receiver):
    when = email.utils.formatdate(time.time() + 2, usegmt=True)  # whole seconds: waits 1-2 s
    otlp_receiver.script([Reply(429, headers={"Retry-After": when}), Reply(200)])
    pipeline = make_pipeline(otlp_receiver.endpoint, retry=replace(FAST_RETRY, window=4.0))
    pipeline.spans(2)
    assert pipeline.flush() is True
    first, second = otlp_receiver.requests
    assert 0.9 <= second.at - first.at < 2.5, second.at - first.at
    assert_accounted(pipeline.spool)


def test_429_retry_after_beyond_the_window_spools_and_waits_that_long(make_pipeline, otlp_receiver):
    otlp_receiver.script([Reply(429, headers={"Retry-After": "3"})])
    pipeline = make_pipeline(otlp_receiver.endpoint)  # 1 s window, replayer on
    pipeline.spans(2)
    started = time.monotonic()
    assert pipeline.flush() is False
    assert time.monotonic() - started < 0.5, "no point waiting 3 s inside a 1 s window"
    assert pipeline.exporter.health.seconds_until_probe() > 2.0
    pipeline.spans(2)
    assert pipeline.flush() is False
    time.sleep(0.5)
    assert len(otlp_receiver.requests) == 1, "neither the live path nor the replayer ignored Retry-After"
    snap = assert_accounted(pipeline.spool)
    assert snap["spooled"] == 4


@pytest.mark.parametrize("retry_after", ["0", "Wed, 21 Oct 2015 07:28:00 GMT"])
def test_a_retry_after_of_zero_or_in_the_past_does_not_hammer_the_collector(
    make_pipeline, otlp_receiver, retry_after
):
    otlp_receiver.default = Reply(429, headers={"Retry-After": retry_after})
    policy = replace(FAST_RETRY, window=1.5, base=0.2, cap=0.4)
    pipeline = make_pipeline(otlp_receiver.endpoint, retry=policy, replay=False)
    pipeline.spans(2)
    assert pipeline.flush() is False
    times = [r.at for r in otlp_receiver.requests]
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    # The normal backoff still applies: at least 0.1 s, then 0.2 s, between attempts in a 1.5 s
    # window, so at most 8 requests (a busy loop sent thousands).
    assert 3 <= len(times) <= 8, len(times)
    assert min(gaps) >= policy.base / 2 - 0.01, gaps
    snap = assert_accounted(pipeline.spool)
    assert snap["spooled"] == 2


# --------------------------------------------------------------------------- the retry window setting


@pytest.mark.parametrize(
    ("explicit", "environ", "window"),
    [({}, {"BOTANU_EXPORT_RETRY_WINDOW": "0.4"}, 0.4), ({"export_retry_window": 2.0}, {}, 2.0)],
)
def test_export_retry_window_bounds_the_retries_of_a_batch(
    otlp_receiver, clean_botanu, tmp_path, explicit, environ, window
):
    otlp_receiver.default = Reply(503)
    settings = resolve_settings(
        {"endpoint": otlp_receiver.endpoint, "spool_dir": str(tmp_path), **explicit}, environ
    )
    assert settings.export_retry_window == window  # not FAST_RETRY's 1 s window
    processor = build_delivery(settings)
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(processor)
    try:
        with provider.get_tracer("test").start_as_current_span("one"):
            pass
        started = time.monotonic()
        assert processor.force_flush(5000) is False
        elapsed = time.monotonic() - started
        times = [r.at for r in otlp_receiver.requests]
    finally:
        processor.shutdown(500)
    # Retried (50-200 ms apart) until the window was used up, then spooled.
    assert len(times) >= 3
    assert window - 0.3 < times[-1] - times[0] <= window + 0.1, times[-1] - times[0]
    assert window - 0.3 < elapsed < window + 0.5, elapsed
    assert _stats.snapshot()["spooled"] == 1


def test_export_retry_window_is_validated_like_export_timeout(caplog):
    for bad in (0, -1, 3601, "soon", float("nan")):
        with caplog.at_level(logging.ERROR, logger="botanu"):
            caplog.clear()
            settings = resolve_settings({"export_retry_window": bad}, {})
        assert settings.export_retry_window is None, bad  # the retry policy's 15 s
        assert any("'export_retry_window'" in r.getMessage() for r in caplog.records), bad
    settings = resolve_settings({}, {"BOTANU_EXPORT_RETRY_WINDOW": "abc"})
    assert settings.export_retry_window is None
    assert settings.sources["export_retry_window"] == "default"
    set_strict(True)
    try:
        with pytest.raises(BotanuUsageError):
            resolve_settings({"export_retry_window": 0}, {})
    finally:
        set_strict(None)


# --------------------------------------------------------------------------- 500 / 400


def test_non_retryable_statuses_are_dropped_with_one_warning(make_pipeline, otlp_receiver, caplog):
    otlp_receiver.script([Reply(400, body=b"bad request: missing resource")])
    otlp_receiver.default = Reply(500, body=b"boom")
    pipeline = make_pipeline(otlp_receiver.endpoint, replay=False)
    with caplog.at_level(logging.WARNING, logger="botanu"):
        for _ in range(3):
            pipeline.spans(2)
            assert pipeline.flush() is False
    assert [r.reply.status for r in otlp_receiver.requests] == [400, 500, 500], "never retried"
    messages = [r.getMessage() for r in caplog.records if "not retried" in r.getMessage()]
    assert len(messages) == 2, messages  # once per status
    assert "HTTP 400: bad request: missing resource" in messages[0]
    assert "HTTP 500: boom" in messages[1]
    snap = assert_accounted(pipeline.spool)
    assert snap["dropped"] == {"not_retryable": 6}
    assert snap["spooled"] == 0 and pipeline.spool.files() == []


# --------------------------------------------------------------------------- slow collector


def test_slower_than_the_timeout_is_retried_and_may_duplicate(make_pipeline, otlp_receiver):
    otlp_receiver.script([Reply(200, delay=1.0)])
    pipeline = make_pipeline(otlp_receiver.endpoint, timeout=0.3, replay=False)
    ids = pipeline.spans(3)
    started = time.monotonic()
    assert pipeline.flush() is True
    elapsed = time.monotonic() - started
    assert 0.3 <= elapsed < 0.9, elapsed  # one timed-out attempt, a backoff, a quick success
    otlp_receiver.wait_for(lambda r: len(r.requests) >= 2, timeout=3)
    # The one allowed duplicate: the collector accepted the request that timed out on our side.
    assert received_ids(otlp_receiver) == sorted(ids + ids)
    snap = assert_accounted(pipeline.spool)
    assert snap["exported"] == 3 and snap["spooled"] == 0


# --------------------------------------------------------------------------- network faults


def test_connection_refused_is_retried_within_the_window_then_spooled(make_pipeline, caplog):
    pipeline = make_pipeline(endpoint_for(free_port()), replay=False)
    ids = pipeline.spans(3)
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="botanu"):
        assert pipeline.flush() is False
        pipeline.spans(3)
        assert pipeline.flush() is False
    assert time.monotonic() - started < FAST_RETRY.window + 0.8
    assert _stats.get("export_requests") >= 3
    warnings = [r.getMessage() for r in caplog.records if "cannot deliver" in r.getMessage()]
    assert len(warnings) == 1 and "connection refused" in warnings[0]
    assert str(pipeline.spool.directory) in warnings[0]
    assert set(ids) <= set(spooled_span_ids(pipeline.spool))
    snap = assert_accounted(pipeline.spool)
    assert snap["spooled"] == 6


def test_the_outage_warning_says_spans_are_dropped_when_the_spool_cannot_be_written(
    make_pipeline, tmp_path, caplog
):
    blocker = tmp_path / "a-file"
    blocker.write_text("")  # the spool directory would have to be inside a regular file
    pipeline = make_pipeline(endpoint_for(free_port()), spool_dir=blocker / "spool", replay=False)
    pipeline.spans(3)
    with caplog.at_level(logging.WARNING, logger="botanu"):
        assert pipeline.flush() is False
    messages = [r.getMessage() for r in caplog.records]
    [outage] = [m for m in messages if "cannot deliver" in m]
    assert "kept in the spool" not in outage, outage
    assert "dropped" in outage and "spool_unwritable" in outage and str(pipeline.spool.directory) in outage
    assert any("cannot write to the spool" in m for m in messages)
    snap = assert_accounted()
    assert snap["dropped"] == {"spool_unwritable": 3} and snap["spooled"] == 0


def test_connection_reset_mid_body_is_retried(make_pipeline, otlp_receiver):
    proxy = ResettingProxy(otlp_receiver.port, resets=1)
    try:
        pipeline = make_pipeline(proxy.endpoint, replay=False)
        ids = pipeline.spans(50)
        assert pipeline.flush() is True
    finally:
        proxy.close()
    assert proxy.reset_count == 1
    assert received_ids(otlp_receiver) == sorted(ids), "each span once: the reset request never arrived"
    snap = assert_accounted(pipeline.spool)
    assert snap["exported"] == 50 and snap["spooled"] == 0
    assert _stats.get("export_requests") == 2


# --------------------------------------------------------------------------- partial success


def test_partial_success_is_counted_and_logged_not_taken_as_success(make_pipeline, otlp_receiver, caplog):
    otlp_receiver.script([Reply(200, rejected_spans=2, error_message="span name too long")])
    pipeline = make_pipeline(otlp_receiver.endpoint)
    pipeline.spans(5)
    with caplog.at_level(logging.WARNING, logger="botanu"):
        assert pipeline.flush() is False
    assert len(otlp_receiver.requests) == 1, "a partial success is not retried"
    assert any(
        "rejected 2 span(s)" in r.getMessage() and "too long" in r.getMessage() for r in caplog.records
    )
    snap = assert_accounted(pipeline.spool)
    assert snap["exported"] == 3 and snap["dropped"] == {"rejected_by_collector": 2}
    assert pipeline.spool.files() == []


def test_partial_success_rejections_are_logged_once_per_process(make_pipeline, otlp_receiver, caplog):
    otlp_receiver.script(
        [
            Reply(200, rejected_spans=1, error_message="span name too long"),
            Reply(200, rejected_spans=2, error_message="attribute too large"),
        ]
    )
    pipeline = make_pipeline(otlp_receiver.endpoint)
    with caplog.at_level(logging.WARNING, logger="botanu"):
        for _ in range(2):
            pipeline.spans(3)
            assert pipeline.flush() is False
    warnings = [r.getMessage() for r in caplog.records if "rejected" in r.getMessage()]
    assert len(warnings) == 1 and "span name too long" in warnings[0], warnings
    assert "botanu.stats()" in warnings[0], "says where the later ones are counted"
    snap = assert_accounted(pipeline.spool)
    assert snap["exported"] == 3 and snap["dropped"] == {"rejected_by_collector": 3}


def test_a_partial_success_warning_is_logged_once_and_counted(make_pipeline, otlp_receiver, caplog):
    response = ExportTraceServiceResponse()
    response.partial_success.error_message = "attribute 'x' is deprecated"  # rejected_spans stays 0
    otlp_receiver.default = Reply(200, body=response.SerializeToString())
    pipeline = make_pipeline(otlp_receiver.endpoint)
    with caplog.at_level(logging.WARNING, logger="botanu"):
        for _ in range(2):
            pipeline.spans(2)
            assert pipeline.flush() is True, "everything was accepted"
    warnings = [r.getMessage() for r in caplog.records if "warning" in r.getMessage()]
    assert len(warnings) == 1 and "attribute 'x' is deprecated" in warnings[0], warnings
    snap = assert_accounted(pipeline.spool)
    assert snap["exported"] == 4 and snap["dropped"] == {}
    assert snap["collector_warnings"] == 2


# --------------------------------------------------------------------------- the plain send() API


def test_send_reports_status_attempts_and_reason(otlp_receiver, clean_botanu):
    from botanu.export import OTLPHttpSpanExporter

    otlp_receiver.script([Reply(503), Reply(503), Reply(200)])
    exporter = OTLPHttpSpanExporter(otlp_receiver.endpoint, retry=FAST_RETRY)
    result = exporter.send(ExportTraceServiceRequest().SerializeToString(), 0)
    assert (result.delivered, result.status, result.attempts) == (True, 200, 3)
    otlp_receiver.default = Reply(404)
    result = exporter.send(b"", 0)
    assert (result.delivered, result.retryable, result.status, result.attempts) == (False, False, 404, 1)
    exporter.shutdown()


def test_log_lines_never_show_a_secret_in_the_endpoint_url(make_pipeline, otlp_receiver, caplog):
    otlp_receiver.default = Reply(400)
    refusing = make_pipeline(otlp_receiver.endpoint + "?api-key=SECRETKEY123")
    with caplog.at_level(logging.INFO, logger="botanu"):
        refusing.spans(2)
        refusing.flush()
        otlp_receiver.close()
        gone = make_pipeline(
            otlp_receiver.endpoint + "?api-key=SECRETKEY456", spool_dir=refusing.spool.directory
        )
        for _ in range(3):
            gone.spans(2)
            gone.flush(1.5)
    assert "refused 2 span(s)" in caplog.text and "cannot deliver spans" in caplog.text
    assert "SECRETKEY" not in caplog.text
    assert caplog.text.count("?api-key=[REDACTED]") >= 2

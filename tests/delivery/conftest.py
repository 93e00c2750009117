"""Fixtures for delivery tests: fast timings, a private spool, an in-process pipeline."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider

from botanu import _stats
from botanu.export import DeliveryProcessor, OTLPHttpSpanExporter, Replayer, RetryPolicy, Spool, _factory

ROOT = Path(__file__).resolve().parents[2]

# Every wait shrunk, so that a fault costs tens of milliseconds, not seconds.
FAST_RETRY = RetryPolicy(window=1.0, base=0.05, cap=0.2, probe_base=0.1, probe_cap=0.4)


@pytest.fixture(autouse=True)
def _isolated_delivery(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test may touch the user's cache dir; timings are short."""
    monkeypatch.setenv("BOTANU_SPOOL_DIR", str(tmp_path / "env-spool"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "50")
    monkeypatch.setattr(_factory, "DEFAULT_RETRY", FAST_RETRY)


@dataclass
class Pipeline:
    """An exporter + spool + replayer + DeliveryProcessor on a private TracerProvider."""

    provider: TracerProvider
    processor: DeliveryProcessor
    exporter: OTLPHttpSpanExporter
    spool: Spool | None
    replayer: Replayer | None

    def spans(self, count: int, prefix: str = "span") -> list[str]:
        """End ``count`` spans; return their span ids (hex) in order."""
        tracer = self.provider.get_tracer("test")
        ids = []
        for index in range(count):
            with tracer.start_as_current_span(f"{prefix}-{index}") as span:
                ids.append(format(span.get_span_context().span_id, "016x"))
        return ids

    def flush(self, timeout: float = 5.0) -> bool:
        return self.processor.force_flush(int(timeout * 1000))

    def shutdown(self, timeout: float = 2.0) -> None:
        self.processor.shutdown(timeout * 1000)


@pytest.fixture
def make_pipeline(clean_botanu: None, tmp_path: Path) -> Iterator[Callable[..., Pipeline]]:
    created: list[Pipeline] = []

    def make(
        endpoint: str,
        *,
        spool: bool = True,
        spool_dir: Path | None = None,
        max_bytes: int = 64 * 1024 * 1024,
        max_age: float = 3600.0,
        retry: RetryPolicy = FAST_RETRY,
        timeout: float = 2.0,
        replay: bool = True,
        **processor_options: Any,
    ) -> Pipeline:
        store = (
            Spool(spool_dir or tmp_path / "spool", max_bytes=max_bytes, max_age=max_age) if spool else None
        )
        exporter = OTLPHttpSpanExporter(endpoint, timeout=timeout, retry=retry, spool=store)
        replayer = Replayer(store, exporter, idle_interval=0.5) if store is not None and replay else None
        if replayer is not None:
            exporter.after_delivery = replayer.kick
            replayer.start()
        processor_options.setdefault("schedule_delay_millis", 50)
        processor = DeliveryProcessor(exporter, replayer=replayer, **processor_options)
        provider = TracerProvider(shutdown_on_exit=False)
        provider.add_span_processor(processor)
        pipeline = Pipeline(provider, processor, exporter, store, replayer)
        created.append(pipeline)
        return pipeline

    yield make
    for pipeline in created:
        pipeline.shutdown(0.5)
    for pipeline in created:
        # A replay still in flight would settle into the next test's (reset) counters.
        thread = getattr(pipeline.replayer, "_thread", None)
        if thread is not None:
            thread.join(5)


def assert_accounted(spool: Spool | None = None) -> dict[str, Any]:
    """The conservation law holds, and the spool holds exactly what the counters say."""
    snap = _stats.snapshot()
    assert snap["balanced"], snap
    assert snap["spans_queued"] + snap["spool_adopted"] == (
        snap["exported"] + snap["replayed"] + snap["dropped_total"] + snap["pending"]
    ), snap
    assert min(snap["in_memory"], snap["spool_pending"]) >= 0, snap
    if spool is not None:
        assert snap["spool_pending"] == spool.span_count(), (snap, spool.files())
    return snap


def run_script(code: str, *args: str, env: dict[str, str] | None = None, timeout: float = 60) -> Any:
    """Run ``code`` in a fresh interpreter (repo on the path, wiring applied, fast retries)."""
    # Scripts pass spool_dir; should one forget, the default location is still a temp dir.
    cache = Path(tempfile.gettempdir()) / "botanu-test-cache"
    full_env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(ROOT),
        "HOME": str(cache),
        "XDG_CACHE_HOME": str(cache),
        **(env or {}),
    }
    prelude = (
        "from botanu.export import _factory\n"
        "from tests.delivery.conftest import FAST_RETRY\n"
        "_factory.DEFAULT_RETRY = FAST_RETRY\n"
    )
    return subprocess.run(
        [sys.executable, "-c", prelude + code, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
        cwd=str(ROOT),
    )

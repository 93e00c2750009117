"""``botanu doctor``: what botanu would do here, and whether the collector answers.

Prints the resolved settings (secrets masked) with where each came from, the
distro and configurator ``opentelemetry-instrument`` would pick, which
instrumentors would load or be skipped and why, then sends one test span to the
endpoint and reports whether the collector accepted it. Exit code 0 when it did.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
from typing import Any, TextIO

from botanu._config import Settings, resolve_settings
from botanu._version import __version__


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "doctor",
        help="check botanu's configuration and the collector",
        description="Print resolved settings and instrumentation plans, and send one test span.",
    )
    parser.add_argument("--endpoint", help="check this endpoint instead of the configured one")
    parser.add_argument("--timeout", type=float, default=3.0, help="seconds to wait for the collector")
    parser.set_defaults(handler=doctor)


def _pick(group: str, chosen: str | None) -> tuple[str, list[str]]:
    from importlib.metadata import entry_points

    names = [entry_point.name for entry_point in entry_points(group=group)]
    if chosen:
        return (chosen if chosen in names else f"{chosen} (NOT INSTALLED)"), names
    if not names:
        return "(none: the SDK defaults)", names
    picked = names[0]
    if len(names) > 1:
        picked += f" (first of {', '.join(names)}: set the selection variable to be sure)"
    return picked, names


def _instrumentor_plan() -> list[tuple[str, str]]:
    from importlib.metadata import entry_points

    from opentelemetry.instrumentation.dependencies import get_dist_dependency_conflicts

    disabled = {x.strip() for x in os.environ.get("OTEL_PYTHON_DISABLED_INSTRUMENTATIONS", "").split(",")}
    rows = []
    for entry_point in sorted(entry_points(group="opentelemetry_instrumentor"), key=lambda e: e.name):
        if "*" in disabled or entry_point.name in disabled:
            rows.append((entry_point.name, "skipped: OTEL_PYTHON_DISABLED_INSTRUMENTATIONS"))
            continue
        try:
            conflict = get_dist_dependency_conflicts(entry_point.dist) if entry_point.dist else None
        except Exception as error:  # a broken distribution must not stop the report
            rows.append((entry_point.name, f"skipped: {error}"))
            continue
        if conflict:
            rows.append((entry_point.name, f"skipped: {conflict}"))
            continue
        module = entry_point.value.split(":")[0]
        if importlib.util.find_spec(module.split(".")[0]) is None:
            rows.append((entry_point.name, "skipped: module not importable"))
            continue
        rows.append((entry_point.name, "would load"))
    return rows


def _test_span(settings: Settings, timeout: float) -> tuple[bool, str]:
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from botanu._pipeline import build_resource
    from botanu.export import OTLPHttpSpanExporter

    captured = InMemorySpanExporter()
    provider = TracerProvider(resource=build_resource(settings), shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(captured))
    with provider.get_tracer("botanu.doctor", __version__).start_as_current_span("botanu.doctor/test-span"):
        pass
    provider.shutdown()
    exporter = OTLPHttpSpanExporter(
        settings.endpoint,
        headers=settings.headers,
        api_key=settings.api_key,
        compression=settings.compression,
        timeout=timeout,
        retry_window=timeout,
    )
    try:
        result = exporter.send(encode_spans(captured.get_finished_spans()).SerializeToString(), 1)
    finally:
        exporter.shutdown()
    return result.delivered, result.reason if not result.delivered else f"HTTP {result.status}"


def report(settings: Settings, timeout: float, out: TextIO) -> bool:
    write = out.write
    write(f"botanu {__version__} doctor (Python {sys.version.split()[0]})\n\nSettings (value [source]):\n")
    for name, shown in settings.describe().items():
        write(f"  {name:28} {shown}\n")
    distro, _ = _pick("opentelemetry_distro", os.environ.get("OTEL_PYTHON_DISTRO"))
    configurator, _ = _pick("opentelemetry_configurator", os.environ.get("OTEL_PYTHON_CONFIGURATOR"))
    write("\nopentelemetry-instrument would use:\n")
    write(f"  distro        {distro}\n  configurator  {configurator}\n\nInstrumentors:\n")
    for name, decision in _instrumentor_plan():
        write(f"  {name:28} {decision}\n")
    write(f"\nSending a test span to {settings.endpoint} ...\n")
    accepted, detail = _test_span(settings, timeout)
    if accepted:
        write(f"  OK: the collector accepted it ({detail})\n")
    else:
        write(f"  FAILED: {detail}\n")
    return accepted


def doctor(args: argparse.Namespace) -> int:
    settings = resolve_settings({"endpoint": args.endpoint} if args.endpoint else {})
    return 0 if report(settings, args.timeout, sys.stdout) else 1

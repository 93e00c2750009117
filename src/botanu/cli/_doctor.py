"""``botanu doctor``: what botanu would do here, and whether the collector answers.

Prints the resolved settings (secrets masked, also inside the endpoint URL) with
where each came from, the distro and configurator ``opentelemetry-instrument``
would pick, which instrumentors would load or be skipped and why (under
``opentelemetry-instrument``, and under ``botanu.init()`` where that differs), then
sends one test span to the endpoint and reports whether the collector accepted it.
Exit code 0 when it did.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any, TextIO

from botanu import _instrumentation
from botanu._config import OTEL_DISABLED_INSTRUMENTATIONS, Settings, resolve_settings
from botanu._version import __version__
from botanu.redaction import without_secrets


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "doctor",
        help="check botanu's configuration and the collector",
        description="Print resolved settings and instrumentation plans, and send one test span.",
    )
    parser.add_argument("--endpoint", help="check this endpoint instead of the configured one")
    parser.add_argument("--timeout", type=float, default=3.0, help="seconds to wait for the collector")
    parser.set_defaults(handler=doctor)


def _pick(group: str, chosen: str | None) -> tuple[str | None, str]:
    """The entry point opentelemetry-instrument would use from ``group`` (None: none), and how to show it."""
    from importlib.metadata import entry_points

    names = [entry_point.name for entry_point in entry_points(group=group)]
    if chosen:
        return (chosen, chosen) if chosen in names else (None, f"{chosen} (NOT INSTALLED)")
    if not names:
        return None, "(none: the SDK defaults)"
    if len(names) > 1:
        return names[0], f"{names[0]} (first of {', '.join(names)}: set the selection variable to be sure)"
    return names[0], names[0]


def _instrumentor_plans(
    settings: Settings, distro: str | None
) -> tuple[str, list[tuple[str, str]], list[tuple[str, str]]]:
    """The opentelemetry-instrument plan (with its heading) and the rows where botanu.init() differs."""
    if distro == "botanu":
        heading = "distro botanu"
        instrument_rules = settings
    else:
        # Another distro loads every instrumentor not in OTEL_PYTHON_DISABLED_INSTRUMENTATIONS.
        which = f"distro {distro!r}" if distro else "the default distro"
        heading = f"{which}, which applies only {OTEL_DISABLED_INSTRUMENTATIONS}"
        otel_only = {k: v for k, v in os.environ.items() if k == OTEL_DISABLED_INSTRUMENTATIONS}
        instrument_rules = resolve_settings({}, otel_only)
    under_instrument = dict(
        _instrumentation.plan(instrument_rules, _instrumentation.EVERY_INSTALLED, check=True)
    )
    under_init = dict(_instrumentation.plan(settings, _instrumentation.DEFAULT_INSTRUMENTATIONS, check=True))
    differs = sorted((name, how) for name, how in under_init.items() if under_instrument.get(name) != how)
    return heading, sorted(under_instrument.items()), differs


def _test_span(settings: Settings, timeout: float) -> tuple[bool, str]:
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
        result = exporter.send(exporter.encode_request(captured.get_finished_spans()), 1)
    finally:
        exporter.shutdown()
    if not result.delivered:
        return False, result.reason
    message = result.message
    if result.rejected_spans:
        rejection = message or "(no message)"
        return False, f"the collector answered HTTP {result.status} but rejected the test span: {rejection}"
    return True, f"HTTP {result.status}" + (f", with a warning: {message}" if message else "")


def report(settings: Settings, timeout: float, out: TextIO) -> bool:
    write = out.write
    write(f"botanu {__version__} doctor (Python {sys.version.split()[0]})\n\nSettings (value [source]):\n")
    shown = settings.describe()
    endpoint = without_secrets(settings.endpoint)
    shown["endpoint"] = f"{endpoint!r}  [{settings.sources.get('endpoint', 'default')}]"
    for name, text in shown.items():
        write(f"  {name:28} {text}\n")
    distro, distro_text = _pick("opentelemetry_distro", os.environ.get("OTEL_PYTHON_DISTRO"))
    configurator_choice = os.environ.get("OTEL_PYTHON_CONFIGURATOR")
    configurator, configurator_text = _pick("opentelemetry_configurator", configurator_choice)
    if configurator_choice is None and distro == "botanu":  # botanu's distro selects its configurator
        configurator, configurator_text = "botanu", "botanu (selected by botanu's distro)"
    write("\nopentelemetry-instrument would use:\n")
    write(f"  distro        {distro_text}\n  configurator  {configurator_text}\n")
    if configurator != "botanu":
        write("  (botanu's pipeline would NOT be used: set OTEL_PYTHON_DISTRO=botanu, or use `botanu run`)\n")
    heading, under_instrument, init_differs = _instrumentor_plans(settings, distro)
    write(f"\nInstrumentors under opentelemetry-instrument ({heading}):\n")
    for name, decision in under_instrument:
        write(f"  {name:28} {decision}\n")
    write(
        "\nInstrumentors under botanu.init()" + (" (where it differs):\n" if init_differs else ": the same\n")
    )
    for name, decision in init_differs:
        write(f"  {name:28} {decision}\n")
    write(f"\nSending a test span to {endpoint} ...\n")
    accepted, detail = _test_span(settings, timeout)
    if accepted:
        write(f"  OK: the collector accepted it ({detail})\n")
    else:
        write(f"  FAILED: {without_secrets(detail)}\n")
    return accepted


def doctor(args: argparse.Namespace) -> int:
    settings = resolve_settings({"endpoint": args.endpoint} if args.endpoint else {})
    return 0 if report(settings, args.timeout, sys.stdout) else 1

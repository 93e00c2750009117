"""``botanu flows check FILE [--flows flows.yaml] [--complete]``: flow verdicts from exported spans.

Exit codes: 0 when no run failed, 1 when at least one run failed, 2 when the
input could not be read.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_FAILED_RUNS, EXIT_BAD_INPUT = 0, 1, 2


def add_parser(subparsers: Any) -> None:
    """Register the ``flows`` command and its ``check`` subcommand."""
    flows = subparsers.add_parser(
        "flows", help="check business flow runs", description="Business flow tools."
    )
    commands = flows.add_subparsers(dest="flows_command", metavar="SUBCOMMAND")
    flows.set_defaults(handler=lambda args: _usage(flows))
    check = commands.add_parser(
        "check",
        help="print each flow run's verdict from spans exported as OTLP/JSON",
        description="Evaluate flow runs (act/assert spans) from exported spans: OTLP/JSON (JSON lines, "
        "one ExportTraceServiceRequest per line, or a single JSON document), OTLP protobuf request "
        "bodies, or files from botanu's spool. Several files (one per service, say) are checked "
        "together. Exit code 1 if any run failed, 2 if an input could not be read.",
    )
    check.add_argument(
        "files",
        nargs="+",
        metavar="FILE",
        help="OTLP/JSON or OTLP protobuf files, or botanu spool files, checked together; a directory "
        "means every spool file under it ('-' reads standard input)",
    )
    check.add_argument(
        "--flows", metavar="FLOWS_FILE", help="flow declarations (YAML, or JSON) with timeouts"
    )
    check.add_argument(
        "--complete",
        action="store_true",
        help="treat the input as complete: nodes that never arrived fail instead of waiting for timeouts",
    )
    check.set_defaults(handler=run_check)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return EXIT_BAD_INPUT


def run_check(args: argparse.Namespace) -> int:
    """Handle ``botanu flows check``; returns the exit code."""
    from botanu.flows._loader import read_flows_file
    from botanu.flows._model import FlowDefinitionError
    from botanu.flows._offline import check_spans, render_table
    from botanu.flows._otlp_json import OTLPJSONError, read_exported

    try:
        declared = {flow.name: flow for flow in read_flows_file(args.flows)} if args.flows else {}
        spans = []
        for name in _inputs(args.files):
            source = "<stdin>" if name == "-" else name
            try:
                data = sys.stdin.buffer.read() if name == "-" else _read(name)
            except OSError as error:
                raise OTLPJSONError(f"{source}: {error.strerror or error}") from None
            spans.extend(read_exported(data, source))
    except (OSError, FlowDefinitionError, OTLPJSONError) as error:
        print(f"botanu flows check: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    verdicts = check_spans(spans, declared, complete=args.complete)
    print(render_table(verdicts))
    return EXIT_FAILED_RUNS if any(verdict.status == "failed" for verdict in verdicts) else EXIT_OK


def _inputs(names: list[str]) -> list[str]:
    """The files to read: a directory stands for the spool files anywhere under it.

    Ready files and files being replayed right now (leased) are read; the spool's
    ``corrupt/`` folders, which hold files that failed their checks, are not.
    """
    from botanu.export._spool_file import LEASE_MARK, READY_SUFFIX

    files: list[str] = []
    for name in names:
        if name == "-" or not os.path.isdir(name):
            files.append(name)
            continue
        found = (
            path
            for path in Path(name).rglob("*")
            if path.is_file()
            and "corrupt" not in path.relative_to(name).parts[:-1]
            and (path.name.endswith(READY_SUFFIX) or READY_SUFFIX + LEASE_MARK in path.name)
        )
        files.extend(sorted(str(path) for path in found))
    return files


def _read(path: str) -> bytes:
    with open(path, "rb") as handle:
        return handle.read()

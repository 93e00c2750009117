"""``botanu flows check FILE [--flows flows.yaml] [--complete]``: flow verdicts from exported spans.

Exit codes: 0 when no run failed, 1 when at least one run failed, 2 when the
input could not be read.
"""

from __future__ import annotations

import argparse
import sys
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
        description="Evaluate flow runs (act/assert spans) from an OTLP/JSON file: JSON lines, one "
        "ExportTraceServiceRequest per line, or a single JSON document. Exit code 1 if any run failed.",
    )
    check.add_argument("file", help="the OTLP/JSON file ('-' reads standard input)")
    check.add_argument(
        "--flows", metavar="FLOWS_FILE", help="flow declarations (YAML, or JSON) with timeouts"
    )
    check.add_argument(
        "--complete",
        action="store_true",
        help="treat the file as complete: nodes that never arrived fail instead of waiting for timeouts",
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
    from botanu.flows._otlp_json import OTLPJSONError, read_spans

    try:
        declared = {flow.name: flow for flow in read_flows_file(args.flows)} if args.flows else {}
        if args.file == "-":
            text, source = sys.stdin.read(), "<stdin>"
        else:
            with open(args.file, encoding="utf-8") as handle:
                text, source = handle.read(), args.file
        spans = read_spans(text, source)
    except (OSError, UnicodeDecodeError, FlowDefinitionError, OTLPJSONError) as error:
        print(f"botanu flows check: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    verdicts = check_spans(spans, declared, complete=args.complete)
    print(render_table(verdicts))
    return EXIT_FAILED_RUNS if any(verdict.status == "failed" for verdict in verdicts) else EXIT_OK

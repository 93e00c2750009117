"""``botanu run -- <command ...>``: opentelemetry-instrument with botanu selected.

For users who do not want to learn ``OTEL_*`` names: it selects botanu's distro
and configurator (so it works next to the stock ``opentelemetry-distro``), turns
a few flags into ``BOTANU_*`` variables, and hands over to ``opentelemetry-instrument``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from typing import Any

_FLAG_TO_ENV = {
    "endpoint": "BOTANU_ENDPOINT",
    "service_name": "BOTANU_SERVICE_NAME",
    "environment": "BOTANU_ENVIRONMENT",
    "propagate_to": "BOTANU_PROPAGATE_TO",
}


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "run",
        help="run a program with botanu's zero-code instrumentation",
        description="Run COMMAND under opentelemetry-instrument with botanu's distro and configurator.",
    )
    parser.add_argument("--endpoint", help="OTLP/HTTP traces URL (BOTANU_ENDPOINT)")
    parser.add_argument("--service-name", dest="service_name", help="service.name (BOTANU_SERVICE_NAME)")
    parser.add_argument("--environment", help="deployment environment (BOTANU_ENVIRONMENT)")
    parser.add_argument("--propagate-to", dest="propagate_to", help="hosts that may receive business baggage")
    parser.add_argument("--console", action="store_true", help="print each trace as a tree on stderr")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="the program to run, after --")
    parser.set_defaults(handler=run)


def environment_for(args: argparse.Namespace) -> dict[str, str]:
    """The variables ``botanu run`` sets for the program (on top of the current environment)."""
    env = {}
    env["OTEL_PYTHON_DISTRO"] = "botanu"
    env["OTEL_PYTHON_CONFIGURATOR"] = "botanu"
    for flag, name in _FLAG_TO_ENV.items():
        value = getattr(args, flag, None)
        if value:
            env[name] = value
    if args.console:
        env["BOTANU_CONSOLE"] = "1"
    return env


def run(args: argparse.Namespace) -> int:
    command = list(args.command)
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        print("botanu run: give the command to run, e.g. botanu run -- python app.py", file=sys.stderr)
        return 2
    if shutil.which(command[0]) is None:
        print(f"botanu run: command not found: {command[0]}", file=sys.stderr)
        return 127
    os.environ.update(environment_for(args))
    from opentelemetry.instrumentation.auto_instrumentation import run as instrument_and_exec

    # opentelemetry-instrument parses sys.argv, sets PYTHONPATH for its sitecustomize and execs.
    # "--" keeps its parser away from the program's own options (``gunicorn --config``
    # would otherwise be taken for an abbreviation of ``--configurator``).
    sys.argv = ["opentelemetry-instrument", "--", *command]
    instrument_and_exec()
    return 0  # not reached: the process was replaced

"""The ``botanu`` command line.

Subcommands register themselves from their own modules through an
``add_parser(subparsers)`` function, so each feature keeps its CLI next to its code.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Sequence

from botanu._version import __version__

# Modules that contribute subcommands; a missing one is skipped.
_SUBCOMMAND_MODULES = ("botanu.cli._run", "botanu.cli._doctor", "botanu.flows._cli")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="botanu",
        description="botanu: business-aware OpenTelemetry for Python.",
    )
    parser.add_argument("--version", action="version", version=f"botanu {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in _SUBCOMMAND_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        module.add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    return int(handler(args) or 0)

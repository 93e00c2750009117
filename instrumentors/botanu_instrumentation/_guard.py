"""Keep instrumentation failures away from the host application.

An instrumentor runs inside the user's calls, so a bug in it must never turn into
an exception in their request. Wrappers catch their own failures and hand them to
:func:`report_failure`, which logs a warning with the traceback once per call site
and stays quiet (debug level) afterwards, so a broken hook cannot flood the logs.
"""

from __future__ import annotations

import logging

logger = logging.getLogger("botanu.instrumentation")

_reported: set[str] = set()


def report_failure(where: str) -> None:
    """Log the exception being handled as an internal failure at ``where``.

    Call it from an ``except`` block. It never raises.
    """
    try:
        first = where not in _reported
        _reported.add(where)
        logger.log(
            logging.WARNING if first else logging.DEBUG,
            "botanu instrumentation failed in %s; the application call continues without it",
            where,
            exc_info=True,
        )
    except Exception:  # logging itself is broken: nothing sensible is left to do
        pass

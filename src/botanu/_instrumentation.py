"""Which OpenTelemetry instrumentors ``botanu.init()`` turns on, and how.

botanu loads instrumentors through their ``opentelemetry_instrumentor`` entry
points, the same way ``opentelemetry-instrument`` does, but only those it knows
(the HTTP clients and threading), so ``init()`` never surprises an app by
instrumenting its database driver. Each is skipped, with the reason logged at
debug level, when its library is missing or its version does not match.
"""

from __future__ import annotations

import logging
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from botanu._config import Settings

logger = logging.getLogger("botanu")

# Entry point names, as published by the contrib packages and by botanu itself.
DEFAULT_INSTRUMENTATIONS = (
    "threading",
    "requests",
    "httpx",
    "urllib3",
    "urllib",
    "aiohttp-client",
    "botanu_http_client",
)


def _entry_points() -> dict[str, EntryPoint]:
    found: dict[str, EntryPoint] = {}
    for entry_point in entry_points(group="opentelemetry_instrumentor"):
        found.setdefault(entry_point.name, entry_point)
    return found


def plan(settings: Settings) -> list[tuple[str, str]]:
    """Return ``(name, decision)`` for every known instrumentation, without loading any."""
    available = _entry_points()
    wanted = DEFAULT_INSTRUMENTATIONS if settings.instrumentations is None else settings.instrumentations
    disabled = set(settings.disabled_instrumentations)
    decisions = []
    for name in dict.fromkeys((*DEFAULT_INSTRUMENTATIONS, *wanted)):
        if name not in wanted:
            decisions.append((name, "off (not in BOTANU_INSTRUMENTATIONS)"))
        elif name in disabled or "*" in disabled:
            decisions.append((name, "off (disabled by OTEL_PYTHON_DISABLED_INSTRUMENTATIONS)"))
        elif name not in available:
            decisions.append((name, "unavailable (instrumentation package not installed)"))
        else:
            decisions.append((name, "on"))
    return decisions


def uninstrument(instrumentors: list[Any]) -> None:
    """Undo what :func:`instrument` did (at shutdown), each independently."""
    for instrumentor in instrumentors:
        try:
            instrumentor.uninstrument()
        except Exception as error:
            logger.debug("botanu: could not uninstrument %s: %s", type(instrumentor).__name__, error)


def instrument(settings: Settings) -> list[Any]:
    """Instrument what :func:`plan` allows; return the instrumentors botanu turned on itself."""
    from opentelemetry.instrumentation.dependencies import get_dist_dependency_conflicts

    available = _entry_points()
    active: list[Any] = []
    for name, decision in plan(settings):
        if decision != "on":
            logger.debug("botanu: instrumentation %s %s", name, decision)
            continue
        entry_point = available[name]
        try:
            if entry_point.dist is not None:
                conflict = get_dist_dependency_conflicts(entry_point.dist)
                if conflict:
                    logger.debug("botanu: instrumentation %s skipped: %s", name, conflict)
                    continue
            instrumentor = entry_point.load()()
            if not instrumentor.is_instrumented_by_opentelemetry:
                instrumentor.instrument(skip_dep_check=True)
                active.append(instrumentor)
        except Exception as error:  # one broken instrumentation must not stop the others
            logger.warning("botanu: instrumentation %s could not be enabled: %s", name, error)
    return active

"""Which OpenTelemetry instrumentors load: one set of rules for every path.

``botanu.init()``, botanu's distro under ``opentelemetry-instrument`` and
``botanu doctor`` all ask :func:`excluded` about each instrumentor, by its
``opentelemetry_instrumentor`` entry point name (``requests``, ``aiohttp-client``,
``botanu_http_client``, ...):

* a name in ``disabled_instrumentations`` (``BOTANU_DISABLED_INSTRUMENTATIONS``
  together with ``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS``; ``*`` is every name) is off;
* when ``instrumentations`` (``BOTANU_INSTRUMENTATIONS``) is set, only the names it
  lists load (``0`` / ``False``: none);
* otherwise ``botanu.init()`` loads the ones it knows (the HTTP clients and
  threading), so it never surprises an app by instrumenting its database driver,
  while ``opentelemetry-instrument`` loads every installed one, as it always does.

An instrumentor is also skipped when its library is missing or its version does
not match (:func:`load`).
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterator
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
    "httpx2",
    "botanu_openai",
    "botanu_anthropic",
)
# ``defaults`` for opentelemetry-instrument: every installed instrumentor.
EVERY_INSTALLED = None

ON = "on"


def _entry_points() -> dict[str, EntryPoint]:
    found: dict[str, EntryPoint] = {}
    for entry_point in entry_points(group="opentelemetry_instrumentor"):
        # Where botanu publishes an instrumentor under a contrib name (httpx2), botanu's is used.
        if entry_point.name not in found or _is_botanus(entry_point):
            found[entry_point.name] = entry_point
    return found


def _is_botanus(entry_point: EntryPoint) -> bool:
    return getattr(getattr(entry_point, "dist", None), "name", None) == "botanu"


def _from(settings: Settings, name: str) -> str:
    source = settings.sources.get(name, "default")
    return f"{name}=" if source == "argument" else source


def excluded(
    name: str, settings: Settings, defaults: Collection[str] | None = DEFAULT_INSTRUMENTATIONS
) -> str | None:
    """Why ``settings`` keep instrumentation ``name`` off, or None when they let it load.

    ``defaults`` are the names that load when ``instrumentations`` is not set
    (:data:`EVERY_INSTALLED` for opentelemetry-instrument).
    """
    disabled = settings.disabled_instrumentations
    if name in disabled or "*" in disabled:
        return f"off (disabled by {_from(settings, 'disabled_instrumentations')})"
    wanted = settings.instrumentations
    if wanted is not None and name not in wanted:
        return f"off (not listed in {_from(settings, 'instrumentations')})"
    if wanted is None and defaults is not None and name not in defaults:
        return "off (not one of botanu.init()'s defaults; list it in instrumentations)"
    return None


def _conflict_text(conflict: Any) -> str:
    """A DependencyConflict in a few words: the library is missing, or installed in another version."""
    required = conflict.required or " or ".join(str(r) for r in conflict.required_any or ())
    found = conflict.found or ", ".join(conflict.found_any or ())
    if found:
        return f"skipped: {found} installed, this instrumentation needs {required}"
    return f"skipped: library not installed ({required})"


def load(entry_point: EntryPoint) -> tuple[Any, str | None]:
    """The instrumentor behind ``entry_point`` and None, or None and why it cannot work here.

    The package's declared dependencies are checked first (as opentelemetry-instrument
    does), then the instrumentor's own: one package may publish several instrumentors
    for different libraries (httpx and httpx2).
    """
    from opentelemetry.instrumentation.dependencies import (
        get_dependency_conflicts,
        get_dist_dependency_conflicts,
    )

    if entry_point.dist is not None:
        conflict = get_dist_dependency_conflicts(entry_point.dist)
        if conflict:
            return None, _conflict_text(conflict)
    try:
        instrumentor = entry_point.load()()
    except ModuleNotFoundError as error:  # the instrumentation imports its library at module level
        return None, f"skipped: library not installed ({error.name or error})"
    conflict = get_dependency_conflicts(instrumentor.instrumentation_dependencies())
    if conflict:
        return None, _conflict_text(conflict)
    return instrumentor, None


def _selection(
    settings: Settings, defaults: Collection[str] | None
) -> Iterator[tuple[str, EntryPoint | None, str | None]]:
    """``(name, entry point, why off or None)`` for every name the settings or defaults mention."""
    available = _entry_points()
    names = [*(defaults or ()), *available, *(settings.instrumentations or ())]
    for name in dict.fromkeys(names):
        reason = excluded(name, settings, defaults)
        if reason is None and name not in available:
            reason = "unavailable (instrumentation package not installed)"
        yield name, available.get(name), reason


def plan(
    settings: Settings, defaults: Collection[str] | None = DEFAULT_INSTRUMENTATIONS, *, check: bool = False
) -> list[tuple[str, str]]:
    """``(name, decision)`` for each instrumentation; the decision is :data:`ON` when it loads.

    ``check`` also imports each selected instrumentor to see whether its library is
    installed (what ``botanu doctor`` shows); without it nothing is loaded.
    """
    decisions = []
    for name, entry_point, reason in _selection(settings, defaults):
        if reason is None and check and entry_point is not None:
            try:
                reason = load(entry_point)[1]
            except Exception as error:  # a broken instrumentation must not stop the report
                reason = f"skipped: {type(error).__name__}: {error}"
        decisions.append((name, reason or ON))
    return decisions


def uninstrument(instrumentors: list[Any]) -> None:
    """Undo what :func:`instrument` did (at shutdown), each independently."""
    for instrumentor in instrumentors:
        try:
            instrumentor.uninstrument()
        except Exception as error:
            logger.debug("botanu: could not uninstrument %s: %s", type(instrumentor).__name__, error)


def instrument(settings: Settings) -> list[Any]:
    """Instrument what ``botanu.init()`` may; return the instrumentors botanu turned on itself."""
    active: list[Any] = []
    for name, entry_point, reason in _selection(settings, DEFAULT_INSTRUMENTATIONS):
        try:
            instrumentor = None
            if reason is None and entry_point is not None:
                instrumentor, reason = load(entry_point)
            if instrumentor is None:
                logger.debug("botanu: instrumentation %s %s", name, reason)
                continue
            if not instrumentor.is_instrumented_by_opentelemetry:
                instrumentor.instrument(skip_dep_check=True)
                active.append(instrumentor)
        except Exception as error:  # one broken instrumentation must not stop the others
            logger.warning("botanu: instrumentation %s could not be enabled: %s", name, error)
    return active

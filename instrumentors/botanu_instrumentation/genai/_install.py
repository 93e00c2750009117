"""Install / remove the ``request`` wrappers on a Stainless SDK's base client module."""

from __future__ import annotations

import os
import sys
from importlib import metadata
from typing import Any

import wrapt
from opentelemetry.instrumentation.utils import unwrap

from .._guard import logger, report_failure
from ._call import Adapter, async_wrapper, sync_wrapper

_TARGETS = ("SyncAPIClient", "AsyncAPIClient")


class Installed(list):  # type: ignore[type-arg]
    """What was wrapped, filled in when the SDK is first imported; ``active`` False cancels that."""

    active = True


def when_imported(module_name: str, apply: Any) -> None:
    """Run ``apply(module)`` now if ``module_name`` is imported, else when the app imports it.

    The SDKs are heavy to import (openai and anthropic take seconds here): ``botanu.init()``
    must not import them for an app that does not use them, or before it does.
    """
    module = sys.modules.get(module_name)
    if module is not None:
        apply(module)
    else:
        wrapt.register_post_import_hook(apply, module_name)


def install(module_name: str, adapter: Adapter) -> Installed:
    """Wrap ``SyncAPIClient.request`` and ``AsyncAPIClient.request`` (now, or on import)."""
    installed = Installed()

    def apply(module: Any) -> None:
        if not installed.active or installed:
            return
        try:
            for name, make in zip(_TARGETS, (sync_wrapper, async_wrapper), strict=True):
                cls = getattr(module, name)
                wrapt.wrap_function_wrapper(cls, "request", make(adapter))
                installed.append((cls, cls.__dict__["request"]))
        except Exception:  # leave the SDK as found rather than half patched
            report_failure(f"{module_name} instrument")
            remove(installed)

    when_imported(module_name, apply)
    return installed


def remove(installed: list[tuple[Any, Any]]) -> None:
    if isinstance(installed, Installed):
        installed.active = False  # a hook still waiting for the import does nothing
    for cls, wrapper in list(installed):
        if cls.__dict__.get("request") is wrapper:
            unwrap(cls, "request")
        else:
            logger.warning(
                "%s.request was re-wrapped by another library; botanu's wrapper stays but no longer traces",
                cls.__qualname__,
            )
    installed.clear()


def botanu_version() -> str | None:
    try:
        return metadata.version("botanu")
    except metadata.PackageNotFoundError:
        return None


def stream_usage_setting(explicit: Any) -> bool:
    """``llm_stream_usage``: the instrument() argument, else botanu's active settings, else the env."""
    if explicit is not None:
        return bool(explicit)
    try:
        from botanu import _pipeline

        active = _pipeline._active
        if active is not None:
            return bool(getattr(active.settings, "llm_stream_usage", False))
    except Exception:
        pass
    return os.environ.get("BOTANU_LLM_STREAM_USAGE", "").strip().lower() in ("1", "true", "yes", "on")

"""Install / remove the ``request`` wrappers on a Stainless SDK's base client module."""

from __future__ import annotations

import importlib
import os
from importlib import metadata
from typing import Any

import wrapt
from opentelemetry.instrumentation.utils import unwrap

from .._guard import logger, report_failure
from ._call import Adapter, async_wrapper, sync_wrapper

_TARGETS = ("SyncAPIClient", "AsyncAPIClient")


def install(module_name: str, adapter: Adapter) -> list[tuple[Any, Any]]:
    """Wrap ``SyncAPIClient.request`` and ``AsyncAPIClient.request``; return what was wrapped."""
    installed: list[tuple[Any, Any]] = []
    try:
        module = importlib.import_module(module_name)
        for name, make in zip(_TARGETS, (sync_wrapper, async_wrapper), strict=True):
            cls = getattr(module, name)
            wrapt.wrap_function_wrapper(cls, "request", make(adapter))
            installed.append((cls, cls.__dict__["request"]))
    except Exception:  # leave the SDK as found rather than half patched
        report_failure(f"{module_name} instrument")
        remove(installed)
        return []
    return installed


def remove(installed: list[tuple[Any, Any]]) -> None:
    for cls, wrapper in installed:
        if cls.__dict__.get("request") is wrapper:
            unwrap(cls, "request")
        else:
            logger.warning(
                "%s.request was re-wrapped by another library; botanu's wrapper stays but no longer traces",
                cls.__qualname__,
            )


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

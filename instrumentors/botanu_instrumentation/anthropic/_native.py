"""Content capture on anthropic's own call spans (SDK 2.x with its tracing on).

botanu adds no span of its own to such a call. When the run records content, the prompt goes
on the SDK's span while the call runs (``_request`` gets it as ``call.span``), and a complete
Message's output just before the SDK ends that span (``finish_api_call_span``). The SDK's own
content mode (``ANTHROPIC_OPEN_TELEMETRY_TRACES_CONTENT_MODE=content``) is independent of this.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import wrapt
from opentelemetry.instrumentation.utils import unwrap

from .._guard import report_failure
from ..genai import _attributes as A
from ..genai._content import capture_content

field = A.field


class NativeContent:
    """The wrappers; ``enabled`` turns them into pass-throughs (after uninstrument)."""

    def __init__(self) -> None:
        self.enabled = True
        self._installed: list[tuple[Any, str]] = []

    def _prompt(self, kwargs: dict[str, Any], args: tuple) -> None:
        call = kwargs.get("call")
        if call is None or not self.enabled or not capture_content():
            return
        try:
            options = args[1] if len(args) > 1 else kwargs.get("options")
            body = getattr(options, "json_data", None)
            url = getattr(options, "url", "")
            if type(body) is not dict or not (url == "/v1/messages" or url.startswith("/v1/messages?")):
                return
            attributes: dict[str, Any] = {}
            messages = body.get("messages")
            if isinstance(messages, (list, tuple)):
                attributes[A.INPUT_MESSAGES] = A.bounded_json(
                    [A.message(field(m, "role"), field(m, "content")) for m in messages[-A.MAX_MESSAGES :]]
                )
            system = body.get("system")
            if system is not None:
                attributes[A.SYSTEM_INSTRUCTIONS] = A.bounded_json(A.text_parts(system))
            if attributes:
                call.span.set_attributes(attributes)
        except Exception:
            report_failure("anthropic native span content")

    def sync_request(self, wrapped: Callable[..., Any], instance: Any, args: tuple, kwargs: dict) -> Any:
        self._prompt(kwargs, args)
        return wrapped(*args, **kwargs)

    async def async_request(
        self, wrapped: Callable[..., Any], instance: Any, args: tuple, kwargs: dict
    ) -> Any:
        self._prompt(kwargs, args)
        return await wrapped(*args, **kwargs)

    def finish(self, wrapped: Callable[..., Any], instance: Any, args: tuple, kwargs: dict) -> Any:
        if self.enabled:
            try:
                span, result = args[1], args[2]
                data = getattr(result, "data", None)
                if (
                    getattr(result, "error", None) is None
                    and field(data, "type") == "message"
                    and span.is_recording()
                    and capture_content()
                ):
                    span.set_attribute(
                        A.OUTPUT_MESSAGES,
                        A.bounded_json(
                            [A.message("assistant", field(data, "content"), field(data, "stop_reason"))]
                        ),
                    )
            except Exception:
                report_failure("anthropic native span output")
        return wrapped(*args, **kwargs)

    def install(self) -> None:
        try:
            module = importlib.import_module("anthropic._base_client")
            if not hasattr(module, "finish_api_call_span"):
                return  # an SDK without its own tracing: botanu's spans cover it
            for cls, wrapper in (
                (module.SyncAPIClient, self.sync_request),
                (module.AsyncAPIClient, self.async_request),
            ):
                wrapt.wrap_function_wrapper(cls, "_request", wrapper)
                self._installed.append((cls, "_request"))
            wrapt.wrap_function_wrapper(module, "finish_api_call_span", self.finish)
            self._installed.append((module, "finish_api_call_span"))
        except Exception:
            report_failure("anthropic native content instrument")
            self.remove()

    def remove(self) -> None:
        self.enabled = False
        for owner, name in self._installed:
            try:
                if hasattr(vars(owner).get(name), "__wrapped__"):
                    unwrap(owner, name)
            except Exception:
                report_failure("anthropic native content uninstrument")
        self._installed = []

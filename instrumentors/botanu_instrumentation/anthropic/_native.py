"""What botanu adds to anthropic's own call spans (SDK 2.x with its tracing on).

botanu adds no span of its own to such a call; it completes the SDK's span while it is still
open, so the attributes reach every exporter (botanu's pipeline or not):

* ``gen_ai.usage.cache_creation.input_tokens`` (the SDK writes ``gen_ai.usage.cache_write...``)
  and ``gen_ai.response.finish_reasons`` (the SDK writes ``anthropic.message.stop_reason``);
* when the run records content, the prompt (``gen_ai.input.messages``, set while ``_request``
  runs, which gets the span as ``call.span``) and the reply (``gen_ai.output.messages``).

A complete Message is read in ``finish_api_call_span``, just before the SDK ends the span; a
streamed one through botanu's stream proxy, whose recorder writes at ``message_delta`` (the SDK
ends its span after the last event) and never ends the span itself. The SDK's own content mode
(``ANTHROPIC_OPEN_TELEMETRY_TRACES_CONTENT_MODE=content``) is independent of this.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import wrapt
from opentelemetry.instrumentation.utils import unwrap

from .._guard import report_failure
from ..genai import _attributes as A
from ..genai._call import Call
from ..genai._content import capture_content
from ..genai._install import when_imported
from ..genai._stream import StreamRecorder, proxy_stream

field = A.field


def _messages_call(options: Any) -> dict[str, Any] | None:
    """The request body of a ``messages`` call (create or stream), None for any other request."""
    url = getattr(options, "url", "")
    body = getattr(options, "json_data", None)
    if type(body) is dict and (url == "/v1/messages" or url.startswith("/v1/messages?")):
        return body
    return None


def _completion(message: Any, into: dict[str, Any]) -> None:
    """The current names for what the SDK records under its own."""
    usage = field(message, "usage")
    created = A.as_int(field(usage, "cache_creation_input_tokens"))
    if created is not None:
        into[A.USAGE_CACHE_CREATION] = created
    reason = field(message, "stop_reason")
    if type(reason) is str:
        into[A.RESPONSE_FINISH_REASONS] = [reason]


class NativeStreamRecorder(StreamRecorder):
    """Completes the SDK's span from a stream's events; the SDK ends the span, never this."""

    __slots__ = ("created", "span", "text", "text_size")

    def __init__(self, span: Any, capture: bool) -> None:
        # A Call that is already "ended": StreamRecorder.finish then leaves the SDK's span alone.
        done = Call(span, capture)
        done.ended = True
        super().__init__(done)
        self.span = span
        self.created: Any = None
        self.text: list[str] | None = [] if capture else None
        self.text_size = 0

    def item(self, event: Any) -> bool:
        kind = event.type
        if kind == "content_block_delta":
            text = self.text
            if text is not None and self.text_size < A.MAX_PART_CHARS:
                delta = getattr(event.delta, "text", None)
                if type(delta) is str:
                    text.append(delta)
                    self.text_size += len(delta)
        elif kind == "message_start":
            self.created = field(field(event.message, "usage"), "cache_creation_input_tokens")
        elif kind == "message_delta":
            attributes: dict[str, Any] = {}
            created = field(event.usage, "cache_creation_input_tokens")
            created = A.as_int(created if created is not None else self.created)
            if created is not None:
                attributes[A.USAGE_CACHE_CREATION] = created
            reason = getattr(event.delta, "stop_reason", None)
            if type(reason) is str:
                attributes[A.RESPONSE_FINISH_REASONS] = [reason]
            if self.text is not None:
                attributes[A.OUTPUT_MESSAGES] = A.bounded_json(
                    [A.message("assistant", "".join(self.text), reason)]
                )
            if attributes and self.span.is_recording():
                self.span.set_attributes(attributes)
        return True


class NativeSpans:
    """The wrappers; ``enabled`` turns them into pass-throughs (after uninstrument)."""

    def __init__(self) -> None:
        self.enabled = True
        self._installed: list[tuple[Any, str]] = []

    def _before(self, args: tuple, kwargs: dict[str, Any]) -> tuple[Any, bool] | None:
        """(the SDK's span, content on) for a traced ``messages`` call, after recording its prompt."""
        call = kwargs.get("call")
        if call is None or not self.enabled:
            return None
        try:
            body = _messages_call(args[1] if len(args) > 1 else kwargs.get("options"))
            if body is None:
                return None
            capture = capture_content()
            if capture:
                attributes: dict[str, Any] = {}
                messages = body.get("messages")
                if isinstance(messages, (list, tuple)):
                    attributes[A.INPUT_MESSAGES] = A.bounded_json(
                        [
                            A.message(field(m, "role"), field(m, "content"))
                            for m in messages[-A.MAX_MESSAGES :]
                        ]
                    )
                system = body.get("system")
                if system is not None:
                    attributes[A.SYSTEM_INSTRUCTIONS] = A.bounded_json(A.text_parts(system))
                if attributes:
                    call.span.set_attributes(attributes)
            return call.span, capture
        except Exception:
            report_failure("anthropic native span prompt")
            return None

    @staticmethod
    def _after(traced: tuple[Any, bool], result: Any, asynchronous: bool) -> Any:
        """A streamed result goes to the app through botanu's proxy, which completes the SDK's span."""
        try:
            if hasattr(type(result), "__anext__" if asynchronous else "__next__") and hasattr(
                result, "response"
            ):
                return proxy_stream(result, NativeStreamRecorder(*traced), asynchronous)
        except Exception:
            report_failure("anthropic native stream")
        return result

    def sync_request(self, wrapped: Callable[..., Any], instance: Any, args: tuple, kwargs: dict) -> Any:
        traced = self._before(args, kwargs)
        result = wrapped(*args, **kwargs)
        return result if traced is None else self._after(traced, result, False)

    async def async_request(
        self, wrapped: Callable[..., Any], instance: Any, args: tuple, kwargs: dict
    ) -> Any:
        traced = self._before(args, kwargs)
        result = await wrapped(*args, **kwargs)
        return result if traced is None else self._after(traced, result, True)

    def finish(self, wrapped: Callable[..., Any], instance: Any, args: tuple, kwargs: dict) -> Any:
        """Around the SDK's ``finish_api_call_span(client, span, result)``: a complete Message."""
        if self.enabled:
            try:
                span, result = args[1], args[2]
                data = getattr(result, "data", None)
                if (
                    getattr(result, "error", None) is None
                    and field(data, "type") == "message"
                    and span.is_recording()
                ):
                    attributes: dict[str, Any] = {}
                    _completion(data, attributes)
                    if capture_content():
                        reason = field(data, "stop_reason")
                        attributes[A.OUTPUT_MESSAGES] = A.bounded_json(
                            [A.message("assistant", field(data, "content"), reason)]
                        )
                    if attributes:
                        span.set_attributes(attributes)
            except Exception:
                report_failure("anthropic native span output")
        return wrapped(*args, **kwargs)

    def install(self) -> None:
        when_imported("anthropic._base_client", self._apply)

    def _apply(self, module: Any) -> None:
        if not self.enabled or self._installed:
            return
        try:
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
            report_failure("anthropic native spans instrument")
            self.remove()

    def remove(self) -> None:
        self.enabled = False
        for owner, name in self._installed:
            try:
                if hasattr(vars(owner).get(name), "__wrapped__"):
                    unwrap(owner, name)
            except Exception:
                report_failure("anthropic native spans uninstrument")
        self._installed = []

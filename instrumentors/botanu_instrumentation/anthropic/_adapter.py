"""How anthropic ``messages`` requests, results and stream events map to gen_ai attributes."""

from __future__ import annotations

from typing import Any

from ..genai import _attributes as A
from ..genai._call import Adapter, Call
from ..genai._stream import StreamRecorder

field = A.field

_PATH = "/v1/messages"
_PARAMS = (
    ("max_tokens", A.REQUEST_MAX_TOKENS, "int"),
    ("temperature", A.REQUEST_TEMPERATURE, "float"),
    ("top_p", A.REQUEST_TOP_P, "float"),
    ("top_k", A.REQUEST_TOP_K, "float"),
    ("stop_sequences", A.REQUEST_STOP, "strs"),
)


def native_tracing(instance: Any) -> bool:
    """True when this client emits its own gen_ai span (anthropic 2.x with tracing on).

    anthropic 2.x gives a client a tracer unless tracing is off for it: ``open_telemetry=False``
    (or ``{"traces": False}``) on the client, or ``ANTHROPIC_OPEN_TELEMETRY=false`` when it was
    made. Older SDKs have no ``_tracer`` at all.
    """
    try:
        return getattr(instance, "_tracer", None) is not None
    except Exception:
        return False


class AnthropicAdapter(Adapter):
    """``messages.create`` and ``messages.stream`` (also beta) when the SDK's own spans are off."""

    provider = "anthropic"

    def skip_client(self, instance: Any) -> bool:
        return native_tracing(instance)

    def describe(
        self, instance: Any, options: Any, stream: bool, capture: bool
    ) -> tuple[str, dict[str, Any], Any] | None:
        url = options.url
        if options.method != "post" or not (url == _PATH or url.startswith("/v1/messages?")):
            return None
        body = options.json_data
        if type(body) is not dict:
            return None
        model = body.get("model")
        # The platform clients (Bedrock, Vertex) name their provider as the SDK's own spans do.
        provider = getattr(type(instance), "_gen_ai_provider_name", None)
        attributes: dict[str, Any] = {
            A.OPERATION: "chat",
            A.PROVIDER: provider if type(provider) is str else "anthropic",
        }
        if type(model) is str:
            attributes[A.REQUEST_MODEL] = model
        A.server_attributes(A.base_url_of(instance), attributes)
        A.copy_params(body, _PARAMS, attributes)
        if stream:
            attributes[A.REQUEST_STREAM] = True
        if capture:
            messages = body.get("messages")
            if isinstance(messages, (list, tuple)):
                attributes[A.INPUT_MESSAGES] = A.bounded_json(
                    [A.message(field(m, "role"), field(m, "content")) for m in messages[-A.MAX_MESSAGES :]]
                )
            system = body.get("system")
            if system is not None:
                attributes[A.SYSTEM_INSTRUCTIONS] = A.bounded_json(A.text_parts(system))
        return (f"chat {model}" if type(model) is str else "chat"), attributes, None

    def record(self, call: Call, data: Any) -> None:
        into = call.attributes
        _identity(data, into)
        reason = field(data, "stop_reason")
        if type(reason) is str:
            into[A.RESPONSE_FINISH_REASONS] = [reason]
        usage = field(data, "usage")
        if usage is not None:
            _usage(field(usage, "input_tokens"), usage, into)
            output = A.as_int(field(usage, "output_tokens"))
            if output is not None:
                into[A.USAGE_OUTPUT] = output
        if call.capture:
            into[A.OUTPUT_MESSAGES] = A.bounded_json(
                [A.message(field(data, "role") or "assistant", field(data, "content"), reason)]
            )

    def recorder(self, call: Call, options: Any) -> StreamRecorder:
        return MessageStreamRecorder(call)


def _identity(data: Any, into: dict[str, Any]) -> None:
    message_id = field(data, "id")
    if type(message_id) is str:
        into[A.RESPONSE_ID] = message_id
    model = field(data, "model")
    if type(model) is str:
        into[A.RESPONSE_MODEL] = model


def _usage(uncached: Any, usage: Any, into: dict[str, Any]) -> None:
    """Input usage: anthropic's ``input_tokens`` excludes the cache; semconv's total includes it."""
    read = A.as_int(field(usage, "cache_read_input_tokens"))
    created = A.as_int(field(usage, "cache_creation_input_tokens"))
    if read is not None:
        into[A.USAGE_CACHE_READ] = read
    if created is not None:
        into[A.USAGE_CACHE_CREATION] = created
    uncached = A.as_int(uncached)
    if uncached is not None:
        into[A.USAGE_INPUT] = uncached + (read or 0) + (created or 0)


class MessageStreamRecorder(StreamRecorder):
    """``message_start`` gives identity and input usage, ``message_delta`` the final usage and stop."""

    __slots__ = ("start_usage", "stop", "text", "text_size", "usage")

    def __init__(self, call: Call) -> None:
        super().__init__(call)
        self.start_usage: Any = None
        self.usage: Any = None
        self.stop: str | None = None
        self.text: list[str] | None = [] if call.capture else None
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
            message = event.message
            _identity(message, self.call.attributes)
            self.start_usage = message.usage
        elif kind == "message_delta":
            self.usage = event.usage
            reason = getattr(event.delta, "stop_reason", None)
            if type(reason) is str:
                self.stop = reason
        return True

    def complete(self) -> None:
        into = self.call.attributes
        start, final = self.start_usage, self.usage
        if start is not None or final is not None:
            # message_delta repeats the cumulative counts (newer API versions); else message_start's.
            merged = {
                name: _first(field(final, name), field(start, name))
                for name in ("input_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")
            }
            _usage(merged["input_tokens"], merged, into)
            output = A.as_int(_first(field(final, "output_tokens"), field(start, "output_tokens")))
            if output is not None:
                into[A.USAGE_OUTPUT] = output
        if self.stop is not None:
            into[A.RESPONSE_FINISH_REASONS] = [self.stop]
        if self.text is not None:
            into[A.OUTPUT_MESSAGES] = A.bounded_json([A.message("assistant", "".join(self.text), self.stop)])


def _first(*values: Any) -> Any:
    for value in values:
        if value is not None:
            return value
    return None

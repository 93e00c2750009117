"""How openai requests, results and stream events map to gen_ai attributes."""

from __future__ import annotations

from typing import Any

from ..genai import _attributes as A
from ..genai._call import Adapter, Call
from ..genai._stream import StreamRecorder

field = A.field

CHAT, RESPONSES, EMBEDDINGS, COMPLETIONS = "/chat/completions", "/responses", "/embeddings", "/completions"
_OPERATIONS = {CHAT: "chat", RESPONSES: "chat", EMBEDDINGS: "embeddings", COMPLETIONS: "text_completion"}

# (body key, attribute, kind) for each request parameter that has a semconv attribute.
_CHAT_PARAMS = (
    ("temperature", A.REQUEST_TEMPERATURE, "float"),
    ("top_p", A.REQUEST_TOP_P, "float"),
    ("max_tokens", A.REQUEST_MAX_TOKENS, "int"),
    ("max_completion_tokens", A.REQUEST_MAX_TOKENS, "int"),
    ("frequency_penalty", A.REQUEST_FREQUENCY_PENALTY, "float"),
    ("presence_penalty", A.REQUEST_PRESENCE_PENALTY, "float"),
    ("seed", A.REQUEST_SEED, "int"),
    ("stop", A.REQUEST_STOP, "strs"),
)
_RESPONSES_PARAMS = (
    ("temperature", A.REQUEST_TEMPERATURE, "float"),
    ("top_p", A.REQUEST_TOP_P, "float"),
    ("max_output_tokens", A.REQUEST_MAX_TOKENS, "int"),
)
_EMBEDDINGS_PARAMS = (
    ("encoding_format", A.REQUEST_ENCODING_FORMATS, "strs"),
    ("dimensions", A.EMBEDDINGS_DIMENSIONS, "int"),
)
_PARAMS = {
    CHAT: _CHAT_PARAMS,
    RESPONSES: _RESPONSES_PARAMS,
    EMBEDDINGS: _EMBEDDINGS_PARAMS,
    COMPLETIONS: _CHAT_PARAMS,
}
REQUEST_SERVICE_TIER = "openai.request.service_tier"
RESPONSE_SERVICE_TIER = "openai.response.service_tier"
_RESPONSES_FINISH = {"completed": "stop", "failed": "error", "cancelled": "cancelled"}


def _provider(instance: Any) -> str:
    # AzureOpenAI / AsyncAzureOpenAI speak the same API to Azure.
    return "azure.ai.openai" if "Azure" in type(instance).__name__ else "openai"


class OpenAIAdapter(Adapter):
    """Chat completions, the Responses API, embeddings and legacy completions."""

    def __init__(self, tracer: Any, stream_usage: bool) -> None:
        super().__init__(tracer)
        # Ask streams for their usage (stream_options.include_usage) and hide the extra chunk.
        self.stream_usage = stream_usage

    def describe(
        self, instance: Any, options: Any, stream: bool, capture: bool
    ) -> tuple[str, dict[str, Any], Any] | None:
        path = options.url
        if "?" in path:  # the beta endpoints: "/responses?beta=true"
            path = path.partition("?")[0]
        operation = _OPERATIONS.get(path)
        if operation is None or options.method != "post":
            return None
        body = options.json_data
        if type(body) is not dict:
            return None
        model = body.get("model")
        attributes: dict[str, Any] = {A.OPERATION: operation, A.PROVIDER: _provider(instance)}
        if type(model) is str:
            attributes[A.REQUEST_MODEL] = model
        A.server_attributes(A.base_url_of(instance), attributes)
        A.copy_params(body, _PARAMS[path], attributes)
        added_usage = False
        if stream:
            attributes[A.REQUEST_STREAM] = True
            if path == CHAT and self.stream_usage:
                added_usage = _ask_for_usage(options, body)
        tier = body.get("service_tier")
        if type(tier) is str:
            attributes[REQUEST_SERVICE_TIER] = tier
        n = body.get("n")
        if type(n) is int and n != 1:
            attributes[A.REQUEST_CHOICE_COUNT] = n
        if capture:
            _input_content(path, body, attributes)
        return (f"{operation} {model}" if type(model) is str else operation), attributes, added_usage

    def record(self, call: Call, data: Any) -> None:
        into = call.attributes
        kind = field(data, "object")
        if kind == "response":
            _record_response(data, into, call.capture)
            return
        _identity(data, into)
        choices = field(data, "choices")
        if choices:
            into[A.RESPONSE_FINISH_REASONS] = [str(field(choice, "finish_reason")) for choice in choices]
            if call.capture:
                into[A.OUTPUT_MESSAGES] = A.bounded_json(
                    [_output_message(choice) for choice in choices[: A.MAX_MESSAGES]]
                )
        _chat_usage(field(data, "usage"), into)

    def recorder(self, call: Call, options: Any) -> StreamRecorder:
        if options.url.partition("?")[0] == RESPONSES:
            return ResponsesStreamRecorder(call)
        # call.extra: botanu added include_usage, so the usage-only chunk is not the app's.
        return ChatStreamRecorder(call, call.extra is True)


def _ask_for_usage(options: Any, body: dict[str, Any]) -> bool:
    """Add ``stream_options.include_usage`` unless the app decided either way itself; True if added."""
    stream_options = body.get("stream_options")
    if stream_options is None:
        stream_options = {}
    elif type(stream_options) is not dict or "include_usage" in stream_options:
        return False
    # A new body: the app's dicts are never changed.
    options.json_data = {**body, "stream_options": {**stream_options, "include_usage": True}}
    return True


def _identity(data: Any, into: dict[str, Any]) -> None:
    response_id = field(data, "id")
    if type(response_id) is str:
        into[A.RESPONSE_ID] = response_id
    model = field(data, "model")
    if type(model) is str:
        into[A.RESPONSE_MODEL] = model
    # The tier that served the call (flex, priority, ...) sets its price: the cost stage reads it.
    tier = field(data, "service_tier")
    if type(tier) is str:
        into[RESPONSE_SERVICE_TIER] = tier


def _chat_usage(usage: Any, into: dict[str, Any]) -> None:
    """Chat / completions / embeddings usage: ``prompt_tokens`` already includes cached tokens."""
    if usage is None:
        return
    prompt = A.as_int(field(usage, "prompt_tokens"))
    if prompt is not None:
        into[A.USAGE_INPUT] = prompt
    completion = A.as_int(field(usage, "completion_tokens"))
    if completion is not None:
        into[A.USAGE_OUTPUT] = completion
    cached = A.as_int(field(field(usage, "prompt_tokens_details"), "cached_tokens"))
    if cached is not None:
        into[A.USAGE_CACHE_READ] = cached
    reasoning = A.as_int(field(field(usage, "completion_tokens_details"), "reasoning_tokens"))
    if reasoning is not None:
        into[A.USAGE_REASONING] = reasoning


def _record_response(data: Any, into: dict[str, Any], capture: bool) -> None:
    """A Responses API ``response`` object (the result, or the one in ``response.completed``)."""
    _identity(data, into)
    status = field(data, "status")
    reason = field(field(data, "incomplete_details"), "reason")
    if type(reason) is str:
        into[A.RESPONSE_FINISH_REASONS] = [reason]
    elif type(status) is str:
        into[A.RESPONSE_FINISH_REASONS] = [_RESPONSES_FINISH.get(status, status)]
    usage = field(data, "usage")
    if usage is not None:
        for name, attribute in (("input_tokens", A.USAGE_INPUT), ("output_tokens", A.USAGE_OUTPUT)):
            value = A.as_int(field(usage, name))
            if value is not None:
                into[attribute] = value
        cached = A.as_int(field(field(usage, "input_tokens_details"), "cached_tokens"))
        if cached is not None:
            into[A.USAGE_CACHE_READ] = cached
        reasoning = A.as_int(field(field(usage, "output_tokens_details"), "reasoning_tokens"))
        if reasoning is not None:
            into[A.USAGE_REASONING] = reasoning
    if capture:
        messages = []
        for item in (field(data, "output") or [])[: A.MAX_MESSAGES]:
            if field(item, "type") == "message":
                messages.append(A.message(field(item, "role") or "assistant", field(item, "content")))
        into[A.OUTPUT_MESSAGES] = A.bounded_json(messages)


def _output_message(choice: Any) -> dict[str, Any]:
    message = field(choice, "message") or field(choice, "text")
    if type(message) is str:  # legacy completions
        return A.message("assistant", message, field(choice, "finish_reason"))
    return A.message(
        field(message, "role") or "assistant", field(message, "content"), field(choice, "finish_reason")
    )


def _input_content(path: str, body: dict[str, Any], into: dict[str, Any]) -> None:
    if path == CHAT:
        messages = body.get("messages")
        if isinstance(messages, (list, tuple)):
            into[A.INPUT_MESSAGES] = A.bounded_json(
                [A.message(field(m, "role"), field(m, "content")) for m in messages[-A.MAX_MESSAGES :]]
            )
    elif path == RESPONSES:
        given = body.get("input")
        if type(given) is str:
            into[A.INPUT_MESSAGES] = A.bounded_json([A.message("user", given)])
        elif isinstance(given, (list, tuple)):
            into[A.INPUT_MESSAGES] = A.bounded_json(
                [A.message(field(m, "role"), field(m, "content")) for m in given[-A.MAX_MESSAGES :]]
            )
        instructions = body.get("instructions")
        if type(instructions) is str:
            into[A.SYSTEM_INSTRUCTIONS] = A.bounded_json([{"type": "text", "content": A.clip(instructions)}])
    elif path == COMPLETIONS:
        prompt = body.get("prompt")
        if type(prompt) is str:
            into[A.INPUT_MESSAGES] = A.bounded_json([A.message("user", prompt)])
    elif path == EMBEDDINGS:
        given = body.get("input")
        if type(given) is str:
            into[A.INPUT_MESSAGES] = A.bounded_json([A.message("user", given)])


class ChatStreamRecorder(StreamRecorder):
    """``chat.completions`` chunks: identity from the first, finish reasons, usage from the last."""

    __slots__ = ("finish_reasons", "first", "hide", "text", "text_size", "usage")

    def __init__(self, call: Call, hide: bool) -> None:
        super().__init__(call)
        self.hide = hide
        self.first = True
        self.finish_reasons: dict[int, str] = {}
        self.usage: Any = None
        self.text: list[str] | None = [] if call.capture else None
        self.text_size = 0

    def item(self, chunk: Any) -> bool:
        if self.first:
            self.first = False
            _identity(chunk, self.call.attributes)
        usage = chunk.usage
        if usage is not None:
            self.usage = usage
        choices = chunk.choices
        if not choices:
            # The usage-only chunk botanu asked for: the app did not, so it does not see it.
            return not (self.hide and usage is not None)
        for choice in choices:
            reason = choice.finish_reason
            if reason is not None:
                self.finish_reasons[choice.index] = reason
        text = self.text
        if text is not None and self.text_size < A.MAX_PART_CHARS:
            first = choices[0]
            # Chat chunks carry a delta; legacy completions chunks carry the text itself.
            delta = getattr(getattr(first, "delta", None), "content", None) or getattr(first, "text", None)
            if type(delta) is str:
                text.append(delta)
                self.text_size += len(delta)
        return True

    def complete(self) -> None:
        into = self.call.attributes
        if self.finish_reasons:
            into[A.RESPONSE_FINISH_REASONS] = [
                self.finish_reasons[index] for index in sorted(self.finish_reasons)
            ]
        _chat_usage(self.usage, into)
        if self.text is not None:
            reason = self.finish_reasons.get(0)
            into[A.OUTPUT_MESSAGES] = A.bounded_json([A.message("assistant", "".join(self.text), reason)])


class ResponsesStreamRecorder(StreamRecorder):
    """Responses API events: the final ``response.completed`` (or failed/incomplete) has it all."""

    __slots__ = ("final",)

    _FINAL = frozenset({"response.completed", "response.incomplete", "response.failed"})

    def __init__(self, call: Call) -> None:
        super().__init__(call)
        self.final: Any = None

    def item(self, event: Any) -> bool:
        kind = event.type
        if kind in self._FINAL or (kind == "response.created" and self.final is None):
            self.final = event.response
        return True

    def complete(self) -> None:
        if self.final is not None:
            _record_response(self.final, self.call.attributes, self.call.capture)

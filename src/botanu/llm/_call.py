"""``botanu.llm_call()``: a gen_ai span for a model no instrumentation covers (other vendors, self-hosted)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from opentelemetry import context, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from botanu._safety import misuse, report_internal
from botanu._version import __version__
from botanu.llm._keys import (
    CACHE_CREATION_TOKENS,
    CACHE_READ_TOKENS,
    ERROR_TYPE,
    FINISH_REASONS,
    INPUT_TOKENS,
    OPERATION,
    OUTPUT_TOKENS,
    PROVIDER,
    REASONING_TOKENS,
    REQUEST_MODEL,
    RESPONSE_ID,
    RESPONSE_MODEL,
)

SCOPE = "botanu.llm"

# (provider, tracer): one tracer per global provider (tests and apps may replace the provider).
_tracer_cache: tuple[object, trace.Tracer] | None = None


def _tracer() -> trace.Tracer:
    global _tracer_cache
    provider = trace.get_tracer_provider()
    cached = _tracer_cache
    if cached is not None and cached[0] is provider:
        return cached[1]
    tracer = provider.get_tracer(SCOPE, __version__)
    _tracer_cache = (provider, tracer)
    return tracer


def _error_type(error: BaseException) -> str:
    kind = type(error)
    module = kind.__module__
    return kind.__qualname__ if module == "builtins" else f"{module}.{kind.__qualname__}"


def _text(name: str, value: object) -> str | None:
    if isinstance(value, str) and value.strip():
        return value
    misuse("%s must be a non-empty string, got %r; not recorded", name, value)
    return None


class LLMCall:
    """One call to a model, recorded as a CLIENT span with the gen_ai semantic conventions.

    Made by :func:`llm_call`; use it with ``with`` or ``async with``. Inside the block, report what
    the model answered with :meth:`record_usage` and :meth:`set_response`. The span gets
    ``botanu.cost.usd`` (when the model's price is known) and counts towards the enclosing run's
    ``botanu.llm.*`` totals, exactly like a span made by an instrumentation.
    """

    __slots__ = ("_model", "_operation", "_provider", "_span", "_token")

    def __init__(self, provider: str, model: str | None, operation: str) -> None:
        self._provider = provider
        self._model = model
        self._operation = operation
        self._span: trace.Span | None = None
        self._token: object | None = None

    @property
    def span(self) -> trace.Span:
        """The call's span (a non-recording one outside the block)."""
        return self._span if self._span is not None else trace.INVALID_SPAN

    def __enter__(self) -> LLMCall:
        if self._span is not None:
            misuse("an llm_call() object was entered twice; the second entry records nothing")
            return self
        try:
            attributes: dict[str, Any] = {OPERATION: self._operation, PROVIDER: self._provider}
            name = self._operation
            if self._model is not None:
                attributes[REQUEST_MODEL] = self._model
                name = f"{self._operation} {self._model}"
            self._span = _tracer().start_span(name, kind=SpanKind.CLIENT, attributes=attributes)
            self._token = context.attach(trace.set_span_in_context(self._span))
        except Exception:
            report_internal("starting an llm_call span")
        return self

    def __exit__(self, exc_type: Any, error: BaseException | None, tb: Any) -> bool:
        span, token = self._span, self._token
        self._token = None
        if token is not None:
            try:
                context.detach(token)  # type: ignore[arg-type]
            except Exception:
                report_internal("detaching an llm_call context")
        if span is None:
            return False
        try:
            if error is not None and not isinstance(error, GeneratorExit):
                span.set_attribute(ERROR_TYPE, _error_type(error))
                span.record_exception(error, escaped=True)
                description = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
                span.set_status(Status(StatusCode.ERROR, description))
            span.end()
        except Exception:
            report_internal("ending an llm_call span")
        return False

    async def __aenter__(self) -> LLMCall:
        return self.__enter__()

    async def __aexit__(self, exc_type: Any, error: BaseException | None, tb: Any) -> bool:
        return self.__exit__(exc_type, error, tb)

    def _open(self, method: str) -> trace.Span | None:
        span = self._span
        if span is None or not span.is_recording():
            misuse("%s() was called outside its llm_call() block; ignored", method)
            return None
        return span

    def record_usage(
        self,
        input_tokens: int | None = None,
        output_tokens: int | None = None,
        cache_read_input_tokens: int | None = None,
        cache_creation_input_tokens: int | None = None,
        reasoning_output_tokens: int | None = None,
    ) -> None:
        """Record the call's token usage (a later call replaces what it sets).

        ``input_tokens`` is *all* input tokens, cached ones included (the OTel convention; for
        Anthropic's API that is ``input_tokens + cache_read_input_tokens +
        cache_creation_input_tokens``). ``cache_read_input_tokens`` and
        ``cache_creation_input_tokens`` say how many of them were read from or written to the
        prompt cache; ``reasoning_output_tokens`` how many output tokens were reasoning.
        A value that is not a non-negative int is left out with a warning (strict mode: raises).
        """
        attributes: dict[str, int] = {}
        for key, name, value in (
            (INPUT_TOKENS, "input_tokens", input_tokens),
            (OUTPUT_TOKENS, "output_tokens", output_tokens),
            (CACHE_READ_TOKENS, "cache_read_input_tokens", cache_read_input_tokens),
            (CACHE_CREATION_TOKENS, "cache_creation_input_tokens", cache_creation_input_tokens),
            (REASONING_TOKENS, "reasoning_output_tokens", reasoning_output_tokens),
        ):
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                misuse("record_usage(%s=...) must be a non-negative int, got %r; not recorded", name, value)
                continue
            attributes[key] = int(value)
        span = self._open("record_usage")
        if span is not None and attributes:
            span.set_attributes(attributes)

    def set_response(
        self,
        model: str | None = None,
        id: str | None = None,
        finish_reasons: Sequence[str] | str | None = None,
    ) -> None:
        """Record what the model answered with: the model that served it, the response id, why it stopped.

        ``model`` (``gen_ai.response.model``) is the one priced when given, so pass the exact
        version the provider reports (``gpt-4o-2024-08-06``).
        """
        attributes: dict[str, Any] = {}
        if model is not None:
            text = _text("set_response(model=...)", model)
            if text is not None:
                attributes[RESPONSE_MODEL] = text
        if id is not None:
            text = _text("set_response(id=...)", id)
            if text is not None:
                attributes[RESPONSE_ID] = text
        if finish_reasons is not None:
            reasons = (finish_reasons,) if isinstance(finish_reasons, str) else finish_reasons
            try:
                values = tuple(reasons)
            except TypeError:
                values = None
            if values is None or not all(isinstance(reason, str) for reason in values):
                misuse(
                    "set_response(finish_reasons=...) must be strings, got %r; not recorded", finish_reasons
                )
            else:
                attributes[FINISH_REASONS] = values
        span = self._open("set_response")
        if span is not None and attributes:
            span.set_attributes(attributes)


def llm_call(provider: str, model: str, *, operation: str = "chat") -> LLMCall:
    """Record a call to a model that no instrumentation covers, as a gen_ai CLIENT span.

    ::

        with botanu.llm_call("vllm", "llama-3.1-70b") as call:
            reply = my_client.generate(prompt)
            call.record_usage(input_tokens=reply.prompt_tokens, output_tokens=reply.completion_tokens)
            call.set_response(model=reply.model, id=reply.id, finish_reasons=[reply.stop_reason])

    Args:
        provider: The provider, as ``gen_ai.provider.name`` (``openai``, ``anthropic``,
            ``aws.bedrock``, or your own name such as ``vllm``).
        model: The model requested (``gen_ai.request.model``).
        operation: ``chat`` (default), ``text_completion``, ``generate_content`` or ``embeddings``.

    The span is named ``"{operation} {model}"``; an exception leaving the block marks it ERROR
    with ``error.type`` and is re-raised unchanged. Its cost comes from genai-prices or your
    ``llm_prices`` file (self-hosted models: put them in that file), and it counts towards the
    enclosing run's ``botanu.llm.calls``, tokens and ``botanu.cost.usd``, failed calls included.
    Bad arguments give one warning (strict mode: ``BotanuUsageError``), never an exception.
    """
    name = _text("llm_call(provider=...)", provider) or "unknown"
    checked_model = _text("llm_call(model=...)", model)
    checked_operation = operation if isinstance(operation, str) and operation.strip() else None
    if checked_operation is None:
        misuse("llm_call(operation=...) must be a non-empty string, got %r; using 'chat'", operation)
        checked_operation = "chat"
    return LLMCall(name, checked_model, checked_operation)

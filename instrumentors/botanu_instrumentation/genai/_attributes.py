"""gen_ai attribute names and the small readers every LLM instrumentor shares.

Names follow the current GenAI semantic conventions
(open-telemetry/semantic-conventions-genai): ``gen_ai.provider.name`` rather than the
deprecated ``gen_ai.system``, and ``gen_ai.usage.input_tokens`` counting every input
token, cached ones included.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

OPERATION = "gen_ai.operation.name"
PROVIDER = "gen_ai.provider.name"
REQUEST_MODEL = "gen_ai.request.model"
REQUEST_MAX_TOKENS = "gen_ai.request.max_tokens"
REQUEST_TEMPERATURE = "gen_ai.request.temperature"
REQUEST_TOP_P = "gen_ai.request.top_p"
REQUEST_TOP_K = "gen_ai.request.top_k"
REQUEST_STOP = "gen_ai.request.stop_sequences"
REQUEST_FREQUENCY_PENALTY = "gen_ai.request.frequency_penalty"
REQUEST_PRESENCE_PENALTY = "gen_ai.request.presence_penalty"
REQUEST_SEED = "gen_ai.request.seed"
REQUEST_CHOICE_COUNT = "gen_ai.request.choice.count"
REQUEST_STREAM = "gen_ai.request.stream"
REQUEST_ENCODING_FORMATS = "gen_ai.request.encoding_formats"
EMBEDDINGS_DIMENSIONS = "gen_ai.embeddings.dimension.count"
RESPONSE_ID = "gen_ai.response.id"
RESPONSE_MODEL = "gen_ai.response.model"
RESPONSE_FINISH_REASONS = "gen_ai.response.finish_reasons"
USAGE_INPUT = "gen_ai.usage.input_tokens"
USAGE_OUTPUT = "gen_ai.usage.output_tokens"
USAGE_CACHE_READ = "gen_ai.usage.cache_read.input_tokens"
USAGE_CACHE_CREATION = "gen_ai.usage.cache_creation.input_tokens"
USAGE_REASONING = "gen_ai.usage.reasoning.output_tokens"
INPUT_MESSAGES = "gen_ai.input.messages"
OUTPUT_MESSAGES = "gen_ai.output.messages"
SYSTEM_INSTRUCTIONS = "gen_ai.system_instructions"
SERVER_ADDRESS = "server.address"
SERVER_PORT = "server.port"
ERROR_TYPE = "error.type"

# Attributes that mark a span as some instrumentation's gen_ai call span (contrib
# genai-openai, OpenLLMetry, a vendor SDK's own): botanu then adds no second one.
GENAI_MARKERS = (OPERATION, PROVIDER, "gen_ai.system", "llm.request.type")

# Content limits: prompts can be megabytes; spans must stay small.
MAX_PART_CHARS = 4096
MAX_MESSAGES = 32
MAX_CONTENT_JSON = 16384
TRUNCATED = "...[truncated]"


def field(obj: Any, name: str) -> Any:
    """``obj[name]`` for a decoded body, ``obj.name`` for an SDK model; None when absent."""
    if obj is None:
        return None
    if type(obj) is dict:
        return obj.get(name)
    return getattr(obj, name, None)


def as_int(value: Any) -> int | None:
    return value if type(value) is int else None


def number(value: Any) -> float | None:
    if type(value) in (int, float):
        return float(value)
    return None


def copy_params(body: Mapping[str, Any], table: Iterable[tuple[str, str, str]], into: dict[str, Any]) -> None:
    """Copy request parameters named in ``table`` ((body key, attribute, kind)) that have a usable value."""
    for key, attribute, kind in table:
        value = body.get(key)
        if value is None:
            continue
        if kind == "float":
            value = number(value)
        elif kind == "int":
            value = as_int(value)
        elif kind == "str":
            value = value if type(value) is str else None
        elif kind == "strs":
            if type(value) is str:
                value = [value]
            elif isinstance(value, (list, tuple)) and all(type(item) is str for item in value):
                value = list(value)
            else:
                value = None
        if value is not None:
            into[attribute] = value


# The last base URL seen and its (host, port): a client's URL object rarely changes, and
# parsing its host costs a few microseconds per call. One entry, replaced whole (thread safe).
_last_server: tuple[Any, str | None, int | None] = (None, None, None)


def base_url_of(client: Any) -> Any:
    """The client's base URL: its ``_base_url`` field (the ``base_url`` property's value, without
    the property's few microseconds), or the public property for a client shaped otherwise."""
    url = getattr(client, "_base_url", None)
    return url if url is not None else getattr(client, "base_url", None)


def server_attributes(base_url: Any, into: dict[str, Any]) -> None:
    """``server.address`` / ``server.port`` from a client's base URL (an httpx/httpx2 ``URL``)."""
    global _last_server
    seen, host, port = _last_server
    if seen is not base_url:
        host = getattr(base_url, "host", None) or None
        port = getattr(base_url, "port", None)
        if port is None:
            port = 80 if getattr(base_url, "scheme", "https") == "http" else 443
        _last_server = (base_url, host, port)
    if host:
        into[SERVER_ADDRESS] = host
        into[SERVER_PORT] = port


def error_type(error: BaseException) -> str:
    """``error.type``: the exception class under its package's public name (``openai.RateLimitError``).

    The vendors define their errors in private modules (``openai._exceptions``) and export them
    from the package; builtins keep their bare name (``TimeoutError``).
    """
    kind = type(error)
    package = kind.__module__.partition(".")[0]
    return kind.__qualname__ if package == "builtins" else f"{package}.{kind.__qualname__}"


def error_description(error: BaseException) -> str:
    text = f"{type(error).__name__}: {error}"
    return text if len(text) <= 200 else text[:197] + "..."


# --------------------------------------------------------------------------- content


def clip(text: str, limit: int = MAX_PART_CHARS) -> str:
    return text if len(text) <= limit else text[:limit] + TRUNCATED


def text_parts(content: Any) -> list[dict[str, Any]]:
    """A message's content as semconv parts: text kept (clipped), anything else named by its type."""
    if content is None:
        return []
    if type(content) is str:
        return [{"type": "text", "content": clip(content)}]
    parts: list[dict[str, Any]] = []
    if isinstance(content, (list, tuple)):
        for item in content[:MAX_MESSAGES]:
            kind = field(item, "type")
            text = field(item, "text")
            if type(text) is str and kind in (None, "text", "input_text", "output_text"):
                parts.append({"type": "text", "content": clip(text)})
            elif kind in ("tool_use", "function_call", "tool_call"):
                parts.append({"type": "tool_call", "id": field(item, "id"), "name": field(item, "name")})
            elif type(kind) is str:
                parts.append({"type": kind})
    return parts


def message(role: Any, content: Any, finish_reason: Any = None) -> dict[str, Any]:
    entry: dict[str, Any] = {"role": role if type(role) is str else "user", "parts": text_parts(content)}
    if finish_reason is not None:
        entry["finish_reason"] = finish_reason
    return entry


def bounded_json(value: Any) -> str:
    """``value`` as JSON of at most :data:`MAX_CONTENT_JSON` characters (cut with a marker beyond it)."""
    text = json.dumps(value, ensure_ascii=False, default=lambda item: f"<{type(item).__name__}>")
    if len(text) > MAX_CONTENT_JSON:
        text = text[:MAX_CONTENT_JSON] + TRUNCATED
    return text

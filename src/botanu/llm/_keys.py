"""Attribute names the LLM stage reads and writes (OTel gen_ai semconv, older spellings, botanu's own)."""

from __future__ import annotations

# Current gen_ai semantic conventions.
OPERATION = "gen_ai.operation.name"
PROVIDER = "gen_ai.provider.name"
SYSTEM = "gen_ai.system"  # deprecated spelling of the provider, still set by contrib and OpenLLMetry
REQUEST_MODEL = "gen_ai.request.model"
RESPONSE_MODEL = "gen_ai.response.model"
RESPONSE_ID = "gen_ai.response.id"
FINISH_REASONS = "gen_ai.response.finish_reasons"
INPUT_TOKENS = "gen_ai.usage.input_tokens"  # includes cached input tokens
OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
CACHE_READ_TOKENS = "gen_ai.usage.cache_read.input_tokens"
CACHE_CREATION_TOKENS = "gen_ai.usage.cache_creation.input_tokens"
REASONING_TOKENS = "gen_ai.usage.reasoning.output_tokens"
ERROR_TYPE = "error.type"
# The service tier that served an OpenAI call (flex and priority are priced differently).
OPENAI_SERVICE_TIER = "openai.response.service_tier"
LEGACY_OPENAI_SERVICE_TIER = "gen_ai.openai.response.service_tier"

# Other spellings seen on real spans: anthropic's native tracing (cache_write), OpenLLMetry
# (prompt/completion, cache_*_input_tokens), and OpenLLMetry's request type.
CACHE_WRITE_TOKENS = "gen_ai.usage.cache_write.input_tokens"
# anthropic's native tracing: the part of the cache write kept for an hour (priced higher).
CACHE_WRITE_1H_TOKENS = "anthropic.usage.cache_creation.ephemeral_1h_input_tokens"
LEGACY_INPUT_TOKENS = "gen_ai.usage.prompt_tokens"
LEGACY_OUTPUT_TOKENS = "gen_ai.usage.completion_tokens"
LEGACY_CACHE_READ_TOKENS = "gen_ai.usage.cache_read_input_tokens"
LEGACY_CACHE_CREATION_TOKENS = "gen_ai.usage.cache_creation_input_tokens"
LLM_REQUEST_TYPE = "llm.request.type"

USAGE_KEYS = (INPUT_TOKENS, OUTPUT_TOKENS, LEGACY_INPUT_TOKENS, LEGACY_OUTPUT_TOKENS)

# botanu's names (wire contract).
COST_USD = "botanu.cost.usd"
LLM_CALLS = "botanu.llm.calls"
LLM_INPUT_TOKENS = "botanu.llm.input_tokens"
LLM_OUTPUT_TOKENS = "botanu.llm.output_tokens"
# Set on a run span only when non-zero: calls with usage but no known price (their cost is not in
# botanu.cost.usd), and calls whose span was still open when the run ended.
LLM_UNPRICED_CALLS = "botanu.llm.unpriced_calls"
LLM_OPEN_CALLS = "botanu.llm.open_calls"

# Operations that are one call to a model. Agent and tool spans may repeat the usage of the
# model calls under them (semconv allows usage on invoke_agent): counting those would count twice.
MODEL_OPERATIONS = frozenset(
    {"chat", "text_completion", "generate_content", "embeddings", "completion", "embedding", "rerank"}
)
NOT_MODEL_OPERATIONS = frozenset({"invoke_agent", "create_agent", "execute_tool", "invoke_workflow"})
LEGACY_REQUEST_TYPES = frozenset({"chat", "completion", "embedding", "rerank"})

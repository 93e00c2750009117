"""LLM cost: ``botanu.cost.usd`` per model call and per business run, from any instrumentation.

* every span of a model call (``gen_ai.usage.*`` from botanu's instrumentors, anthropic's native
  tracing, contrib, OpenLLMetry, or :func:`llm_call`) gets ``botanu.cost.usd``, priced from
  genai-prices' bundled table or the user's ``llm_prices`` file (see :mod:`._prices`);
* every run span gets ``botanu.llm.calls``, ``botanu.llm.input_tokens``,
  ``botanu.llm.output_tokens`` and ``botanu.cost.usd`` summed over the run's calls (see
  :mod:`._rollup`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from opentelemetry.sdk.trace import SpanProcessor

from botanu.llm._call import LLMCall, llm_call
from botanu.llm._cost import LlmCostProcessor, LlmRunEnricher
from botanu.llm._prices import PriceTable, load_overrides

if TYPE_CHECKING:
    from botanu._config import Settings

__all__ = ["LLMCall", "LlmCostProcessor", "LlmRunEnricher", "PriceTable", "cost_stage", "llm_call"]


def cost_stage(export: SpanProcessor, settings: Settings) -> LlmCostProcessor:
    """The cost stage in front of ``export`` (the redacting wrapper, or the delivery chain).

    Reads ``settings.llm_prices`` now, so a bad price file is reported at ``init()``, and
    has run spans carry their calls' totals from now on.
    """
    from botanu.context import _run
    from botanu.llm import _rollup

    _run.set_run_end_listener(_rollup.run_ended)
    return LlmCostProcessor(export, PriceTable(load_overrides(getattr(settings, "llm_prices", None))))

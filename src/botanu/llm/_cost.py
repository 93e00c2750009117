"""The cost stage: ``botanu.cost.usd`` on every model-call span, whoever made it, and the run totals.

::

    span start --> LlmRunEnricher      run attributes (RunEnricher), then: a model call inside a run?
                                       remember it as open (for calls still open when the run ends)
    span ending -> LlmCostProcessor    a model call? price its usage, feed the run totals, and add
                                       botanu.cost.usd to the span (OnEnding: it may still change)
    span end   --> LlmCostProcessor     pass it on (on an SDK without OnEnding, or a span at its
                                       attribute limit: price it now, into a copy)
                       +--> the redacting wrapper (or the delivery chain when redaction is off)

Cost is computed from span attributes, not inside each instrumentor, so spans from botanu's
instrumentors, anthropic's native tracing (scope ``com.anthropic.sdk.python``), the contrib
instrumentations and OpenLLMetry are all priced the same way. An ordinary span costs two dict
lookups here: only spans naming a gen_ai provider (``gen_ai.provider.name`` or the older
``gen_ai.system``) go further.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from opentelemetry.attributes import BoundedAttributes
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor

from botanu import _stats
from botanu._safety import report_internal
from botanu.context._enricher import RunEnricher
from botanu.context._keys import RUN_ID
from botanu.context._tracing import ending_callback
from botanu.llm import _prices, _rollup
from botanu.llm._keys import (
    CACHE_CREATION_TOKENS,
    CACHE_READ_TOKENS,
    CACHE_WRITE_1H_TOKENS,
    CACHE_WRITE_TOKENS,
    COST_USD,
    INPUT_TOKENS,
    LEGACY_CACHE_CREATION_TOKENS,
    LEGACY_CACHE_READ_TOKENS,
    LEGACY_INPUT_TOKENS,
    LEGACY_OPENAI_SERVICE_TIER,
    LEGACY_OUTPUT_TOKENS,
    LEGACY_REQUEST_TYPES,
    LLM_REQUEST_TYPE,
    MODEL_OPERATIONS,
    NOT_MODEL_OPERATIONS,
    OPENAI_SERVICE_TIER,
    OPERATION,
    OUTPUT_TOKENS,
    PROVIDER,
    REASONING_TOKENS,
    REQUEST_MODEL,
    RESPONSE_MODEL,
    SYSTEM,
)
from botanu.llm._prices import PriceTable, Usage

logger = logging.getLogger("botanu")

# botanu.stats() counter: model calls with usage but no known price (every other call is only
# counted on its run span: a locked counter per call would cost more than the rest of the stage).
UNKNOWN_MODEL = "llm_cost_unknown_model"

_EMPTY: Mapping[str, Any] = {}
_MAX_ENDING = 4096
# Usage details beyond input and output tokens, in every spelling read below.
_DETAIL_KEYS = frozenset(
    {
        CACHE_READ_TOKENS,
        LEGACY_CACHE_READ_TOKENS,
        CACHE_CREATION_TOKENS,
        CACHE_WRITE_TOKENS,
        LEGACY_CACHE_CREATION_TOKENS,
        REASONING_TOKENS,
    }
)
# What else changes a call's price: a service tier, or a cost already set (kept as it is).
_PRICE_KEYS = frozenset({OPENAI_SERVICE_TIER, LEGACY_OPENAI_SERVICE_TIER, COST_USD})


def _plain_counts(attributes: Mapping[str, Any]) -> tuple[int, int] | None:
    """(input, output) tokens of the usual call: both current spellings as non-negative ints, and
    every usage detail absent or zero (openai reports cached_tokens: 0 on every response)."""
    input_tokens = attributes.get(INPUT_TOKENS)
    output_tokens = attributes.get(OUTPUT_TOKENS)
    if type(input_tokens) is not int or type(output_tokens) is not int:
        return None
    if input_tokens < 0 or output_tokens < 0:
        return None
    if not attributes.keys().isdisjoint(_DETAIL_KEYS):
        for key in _DETAIL_KEYS:
            value = attributes.get(key)
            if value is not None and (type(value) is not int or value != 0):
                return None
    return input_tokens, output_tokens


def _count(value: object) -> int | None:
    """A token count from an attribute value: a non-negative int (an integral float is accepted)."""
    if type(value) is int:
        return value if value >= 0 else None
    if type(value) is float and value.is_integer() and value >= 0:
        return int(value)
    return None


def _first(attributes: Mapping[str, Any], *keys: str) -> int | None:
    for key in keys:
        value = attributes.get(key)
        if value is not None:
            return _count(value)
    return None


def read_usage(attributes: Mapping[str, Any]) -> Usage | None:
    """The call's token usage, or None when the span reports none (a failed call, usually)."""
    plain = _plain_counts(attributes)
    if plain is not None:  # the usual call, without the generic lookups below
        return Usage(*plain)
    input_tokens = _first(attributes, INPUT_TOKENS, LEGACY_INPUT_TOKENS)
    output_tokens = _first(attributes, OUTPUT_TOKENS, LEGACY_OUTPUT_TOKENS)
    if input_tokens is None and output_tokens is None:
        return None
    cache_read = _first(attributes, CACHE_READ_TOKENS, LEGACY_CACHE_READ_TOKENS) or 0
    cache_write = (
        _first(attributes, CACHE_CREATION_TOKENS, CACHE_WRITE_TOKENS, LEGACY_CACHE_CREATION_TOKENS) or 0
    )
    input_tokens = input_tokens or 0
    if cache_read + cache_write > input_tokens:
        # The semconv input count includes cached tokens; a source whose input count cannot
        # include them (older instrumentations of anthropic) reported them apart.
        input_tokens += cache_read + cache_write
    return Usage(
        input_tokens,
        output_tokens or 0,
        cache_read,
        cache_write,
        _first(attributes, REASONING_TOKENS) or 0,
        (_first(attributes, CACHE_WRITE_1H_TOKENS) or 0) if cache_write else 0,
    )


def is_model_call(attributes: Mapping[str, Any], usage: Usage | None) -> bool:
    """A span of one call to a model (not an agent or tool span, not an API call such as listing models)."""
    operation = attributes.get(OPERATION)
    if operation in NOT_MODEL_OPERATIONS:
        return False
    return (
        usage is not None
        or operation in MODEL_OPERATIONS
        or attributes.get(LLM_REQUEST_TYPE) in LEGACY_REQUEST_TYPES
    )


def _started_as_model_call(attributes: Mapping[str, Any]) -> bool:
    return (
        attributes.get(OPERATION) in MODEL_OPERATIONS
        or attributes.get(LLM_REQUEST_TYPE) in LEGACY_REQUEST_TYPES
    )


class LlmCostProcessor(SpanProcessor):
    """Wraps the export processor: model-call spans reach it carrying ``botanu.cost.usd``.

    The cost is added while the span ends (the spec's OnEnding, where a processor may still
    change the span: every processor then sees it, and no copy is made); where the SDK has no
    such step, or the span is at its attribute limit, the next stage gets a priced copy instead.
    Every other span is passed on untouched after two dict lookups. Pricing never raises into
    ``span.end()``: a failure is logged once and the span goes on without a cost.
    """

    def __init__(self, wrapped: SpanProcessor, prices: PriceTable | None = None) -> None:
        self._wrapped = wrapped
        self._wrapped_end = wrapped.on_end  # bound once, not looked up for every span
        self.prices = prices if prices is not None else PriceTable()
        self._forward_ending = ending_callback(wrapped)  # None where passing it on does nothing
        # The attributes of spans priced as they ended, until their on_end (which may run on
        # another thread: the SDK's concurrent multi-processor); by id, checked by identity.
        self._ending: dict[int, Any] = {}

    @property
    def wrapped(self) -> SpanProcessor:
        """The processor that receives the (priced) spans."""
        return self._wrapped

    @property
    def redactor(self) -> Any:
        """The redactor of the wrapped redacting processor, if any (the pipeline reads it)."""
        return getattr(self._wrapped, "redactor", None)

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        self._wrapped.on_start(span, parent_context=parent_context)

    def _on_ending(self, span: Span) -> None:
        # The spec's OnEnding: the span is ending, every processor's OnEnding runs before any
        # OnEnd, and no other thread may change the span any more. The place to add what a span
        # lacks: a model call is priced here, into the span itself, so no copy is needed later.
        try:
            held = span._attributes  # type: ignore[attr-defined]
            attributes = held._dict
        except AttributeError:
            attributes = _EMPTY
        if PROVIDER in attributes or SYSTEM in attributes:
            self._price_ending(span, held, attributes)
        if self._forward_ending is not None:
            self._forward_ending(span)

    def on_end(self, span: ReadableSpan) -> None:
        try:
            attributes = span._attributes._dict  # type: ignore[attr-defined]
        except AttributeError:  # not an SDK span (or no attributes): the public, copying route
            attributes = span.attributes or _EMPTY
        if PROVIDER in attributes or SYSTEM in attributes:
            held = getattr(span, "_attributes", None)
            if self._ending.pop(id(held), None) is not held or held is None:
                # An SDK without OnEnding, or a span whose attribute limit was reached.
                span = self._priced(span, attributes)
        self._wrapped_end(span)

    def shutdown(self) -> None:
        self._wrapped.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._wrapped.force_flush(timeout_millis)

    # ------------------------------------------------------------------ model calls

    def _price_ending(self, span: Span, held: Any, attributes: dict[str, Any]) -> None:
        """Price an ending model call and write ``botanu.cost.usd`` into its attributes."""
        if held.maxlen is not None and len(attributes) >= held.maxlen:
            return  # the SDK's rule for a full span would drop its oldest attribute: on_end copies
        cost = self._account(span, attributes)
        if cost is not None:
            with held._lock:
                attributes[COST_USD] = cost
        ending = self._ending
        if len(ending) >= _MAX_ENDING:  # on_end always follows; bounded all the same
            ending.clear()
        ending[id(held)] = held

    def _priced(self, span: ReadableSpan, attributes: Mapping[str, Any]) -> ReadableSpan:
        """An ended model call with its cost: a copy carrying ``botanu.cost.usd`` (the span unchanged)."""
        cost = self._account(span, attributes)
        return span if cost is None else _with_cost(span, attributes, cost)

    def _account(self, span: ReadableSpan | Span, attributes: Mapping[str, Any]) -> float | None:
        """Add a model call to its run's totals; the cost to add to the span (None: none to add)."""
        try:
            # The usual call: two plain token counts, nothing else that changes the price, a model
            # already priced once at flat rates. Two products, the same float the general route gives.
            plain = _plain_counts(attributes)
            if (
                plain is not None
                and attributes.keys().isdisjoint(_PRICE_KEYS)
                and attributes.get(OPERATION) not in NOT_MODEL_OPERATIONS
            ):
                input_tokens, output_tokens = plain
                model = attributes.get(RESPONSE_MODEL)
                if type(model) is not str or not model:
                    model = attributes.get(REQUEST_MODEL)
                rates = self.prices.flat_rates(attributes.get(PROVIDER), model)
                if rates is not None:
                    cost = (input_tokens * rates[0] + output_tokens * rates[1]) / 1e6 + rates[2]
                    self._add_to_run(span, attributes, input_tokens, output_tokens, cost, False)
                    return cost
            return self._account_any(span, attributes)
        except Exception:
            report_internal("pricing an LLM call")
            return None

    def _account_any(self, span: ReadableSpan | Span, attributes: Mapping[str, Any]) -> float | None:
        usage = read_usage(attributes)
        if not is_model_call(attributes, usage):
            return None
        existing = attributes.get(COST_USD)
        cost: float | None = None
        if type(existing) in (int, float):
            cost = float(existing)  # priced upstream (another botanu stage, the user): kept
        elif usage is not None:
            cost = self.cost_of(attributes, usage, span.start_time or 0)
        if usage is None:
            self._add_to_run(span, attributes, 0, 0, cost, False)
        else:
            self._add_to_run(span, attributes, usage.input, usage.output, cost, cost is None)
        return None if existing is not None else cost

    @staticmethod
    def _add_to_run(
        span: ReadableSpan | Span,
        attributes: Mapping[str, Any],
        input_tokens: int,
        output_tokens: int,
        cost: float | None,
        unpriced: bool,
    ) -> None:
        run_id = attributes.get(RUN_ID)
        if type(run_id) is str:
            context = span.context
            span_id = context.span_id if context is not None else 0
            _rollup.call_ended(span_id, run_id, input_tokens, output_tokens, cost, unpriced)

    def cost_of(self, attributes: Mapping[str, Any], usage: Usage, start_ns: int = 0) -> float | None:
        """USD for ``usage`` by the span's provider and model; None (and counted) when not known."""
        provider = attributes.get(PROVIDER) or attributes.get(SYSTEM)
        if type(provider) is str and provider:
            tier = attributes.get(OPENAI_SERVICE_TIER) or attributes.get(LEGACY_OPENAI_SERVICE_TIER)
            if type(tier) is not str:
                tier = None
            for key in (RESPONSE_MODEL, REQUEST_MODEL):
                model = attributes.get(key)
                if type(model) is not str or not model:
                    continue
                price = self.prices.lookup(provider, model)
                if price is not None:
                    try:
                        cost = price.cost(usage, start_ns, tier)
                    except Exception:  # genai-prices refused this usage for this model
                        logger.debug("botanu: pricing %s/%s failed", provider, model, exc_info=True)
                        break
                    if tier is None:
                        self.prices.remember_flat(provider, model, price)
                    return cost
        _stats.add(UNKNOWN_MODEL)
        return None


def _with_cost(span: ReadableSpan, attributes: Mapping[str, Any], cost: float) -> ReadableSpan:
    """A copy of the ended span that also carries ``botanu.cost.usd`` (the live span is never changed)."""
    priced = dict(attributes)
    priced[COST_USD] = cost
    bounded = BoundedAttributes(maxlen=None, immutable=True)
    # The values come from a span, so the SDK already checked them: assigned directly rather than
    # checked again value by value (the SDK's own BoundedAttributes.__deepcopy__ does the same).
    # That check was most of this stage's cost per call.
    bounded._dict = priced
    bounded.dropped = span.dropped_attributes
    if type(span) is ReadableSpan and hasattr(span, "__dict__"):
        # The SDK's ReadableSpan keeps its state in its __dict__: copied whole at C speed, so
        # the copy is the span field for field, with only its attributes replaced.
        copy = ReadableSpan.__new__(ReadableSpan)
        copy.__dict__.update(span.__dict__)
        copy._attributes = bounded
        return copy
    try:
        # An ended SDK span's event and link lists no longer change: shared, with their drop counts.
        events, links = span._events, span._links  # type: ignore[attr-defined]
    except AttributeError:
        events, links = span.events, span.links
    return ReadableSpan(
        name=span.name,
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=bounded,
        events=events,
        links=links,
        kind=span.kind,
        status=span.status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


class LlmRunEnricher(RunEnricher):
    """The run enricher, plus: a model call starting inside a run is remembered as open.

    That is how a call still streaming when its run ends is counted (``botanu.llm.open_calls``
    on the run span, ``llm_calls_open_at_run_end`` in ``botanu.stats()``) rather than lost.
    """

    def enrich(self, span: Span, parent_context: Context | None = None) -> None:
        RunEnricher.enrich(self, span, parent_context)
        try:
            attributes = span._attributes._dict  # type: ignore[attr-defined]
        except AttributeError:
            return
        if PROVIDER in attributes or SYSTEM in attributes:
            try:
                if _started_as_model_call(attributes):
                    _prices.warm_up()  # the call's own round trip hides the price table's import
                    run_id = attributes.get(RUN_ID)
                    if type(run_id) is str:
                        _rollup.call_started(span.context.span_id, run_id, parent_context)
            except Exception:
                report_internal("noting the start of an LLM call")

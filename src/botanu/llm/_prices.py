"""Prices of LLM calls: the user's override file first, then genai-prices' bundled, dated table.

genai-prices is imported lazily (it costs ~200 ms and pulls pydantic and httpx2), and only
its offline snapshot is read: botanu never calls ``UpdatePrices``, so no price lookup touches
the network. Its own calculation costs ~140 µs per call, too much for the end of every span,
so each model's price is turned once into a few floats, and that formula is checked against
genai-prices' own result on probe usages before it is trusted; a model whose prices the
formula cannot reproduce is priced by genai-prices itself on every call.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import threading
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from botanu import _safety

logger = logging.getLogger("botanu")

# OTel provider names (gen_ai.provider.name, and the deprecated gen_ai.system values, in lower
# case) to genai-prices provider ids. A name not listed is used as is when genai-prices knows it.
_PROVIDER_IDS = {
    "aws.bedrock": "aws",
    "aws_bedrock": "aws",
    "bedrock": "aws",
    "azure.ai.openai": "azure",
    "azure.ai.inference": "azure",
    "az.ai.openai": "azure",
    "az.ai.inference": "azure",
    "azure_openai": "azure",
    "gemini": "google",
    "vertex_ai": "google",
    "vertexai": "google",
    "google_genai": "google",
    "x_ai": "x-ai",
    "xai": "x-ai",
    "mistral_ai": "mistral",
    "mistralai": "mistral",
    "mistral ai": "mistral",
    "together_ai": "together",
    "togetherai": "together",
    "fireworks_ai": "fireworks",
    "moonshot": "moonshotai",
}

# Bounds on what is remembered about (provider, model) pairs: model names come from spans, and a
# process that sees many distinct ones (fine-tunes, deployments) must not grow without limit.
_MAX_CACHED = 2048


def genai_provider_id(name: str) -> str:
    """genai-prices' id for an OTel provider name (``aws.bedrock`` -> ``aws``, ``gcp.*`` -> ``google``)."""
    lowered = name.strip().lower()
    mapped = _PROVIDER_IDS.get(lowered)
    if mapped is not None:
        return mapped
    if lowered.startswith("gcp."):
        return "google"
    return lowered


class Usage:
    """Token counts of one call. ``input`` includes the cached tokens (read and written), as in OTel.

    ``cache_write_1h`` is the part of ``cache_write`` written for an hour (Anthropic prices it higher).
    """

    __slots__ = ("cache_read", "cache_write", "cache_write_1h", "input", "output", "reasoning")

    def __init__(
        self,
        input: int = 0,
        output: int = 0,
        cache_read: int = 0,
        cache_write: int = 0,
        reasoning: int = 0,
        cache_write_1h: int = 0,
    ) -> None:
        self.input = input
        self.output = output
        self.cache_read = cache_read
        self.cache_write = cache_write
        self.reasoning = reasoning
        self.cache_write_1h = min(cache_write_1h, cache_write)

    def genai_kwargs(self) -> dict[str, int]:
        """The same usage as genai-prices' ``Usage`` keywords (zero counts left out)."""
        pairs = (
            ("input_tokens", self.input),
            ("output_tokens", self.output),
            ("cache_read_tokens", self.cache_read),
            ("cache_write_tokens", self.cache_write),
            ("output_reasoning_tokens", self.reasoning),
            ("cache_write_1h_tokens", self.cache_write_1h),
        )
        return {key: value for key, value in pairs if value}


# A rate in USD per million tokens: (base, ((tier start, price), ...)). Crossing a tier (by total
# input tokens) prices *all* tokens of the call at that tier's rate, as genai-prices does.
Rate = tuple[float, tuple[tuple[int, float], ...]]
# USD per million input tokens, per million output tokens, and per request, of a price without tiers.
FlatRates = tuple[float, float, float]


def _at(rate: Rate, total_input: int) -> float:
    base, tiers = rate
    for start, price in reversed(tiers):
        if total_input > start:
            return price
    return base


class Price:
    """USD per million tokens for each kind of token, and a fixed price per request."""

    __slots__ = (
        "_flat",
        "cache_read",
        "cache_write",
        "cache_write_1h",
        "input",
        "output",
        "per_request",
        "reasoning",
    )

    def __init__(
        self,
        input: Rate,
        output: Rate,
        cache_read: Rate | None = None,
        cache_write: Rate | None = None,
        reasoning: Rate | None = None,
        per_request: float = 0.0,
        cache_write_1h: Rate | None = None,
    ) -> None:
        self.input = input
        self.output = output
        # A missing cache price means the input price (cached tokens are then plain input tokens).
        self.cache_read = input if cache_read is None else cache_read
        self.cache_write = input if cache_write is None else cache_write
        self.cache_write_1h = self.cache_write if cache_write_1h is None else cache_write_1h
        self.reasoning = output if reasoning is None else reasoning
        self.per_request = per_request
        rates = (
            self.input,
            self.cache_read,
            self.cache_write,
            self.output,
            self.reasoning,
            self.cache_write_1h,
        )
        # Most prices have no tiers: their rates as plain floats, read without _at() calls.
        self._flat = None if any(rate[1] for rate in rates) else tuple(rate[0] for rate in rates)

    @property
    def flat_rates(self) -> FlatRates | None:
        """``(input, output, per request)`` when no rate has tiers. A call without cache or reasoning
        tokens then costs ``(input_tokens * input + output_tokens * output) / 1e6 + per request``."""
        flat = self._flat
        return None if flat is None else (flat[0], flat[3], self.per_request)

    def cost(self, usage: Usage, start_ns: int = 0, tier: str | None = None) -> float:
        """The call's cost in USD (a price from the override file has one tier: ``tier`` is ignored)."""
        total = usage.input
        uncached = max(0, total - usage.cache_read - usage.cache_write)
        reasoning = min(usage.reasoning, usage.output)
        long_writes = usage.cache_write_1h
        flat = self._flat
        if flat is not None:
            per_million = (
                uncached * flat[0]
                + usage.cache_read * flat[1]
                + (usage.cache_write - long_writes) * flat[2]
                + (usage.output - reasoning) * flat[3]
                + reasoning * flat[4]
                + long_writes * flat[5]
            )
            return per_million / 1e6 + self.per_request
        per_million = (
            uncached * _at(self.input, total)
            + usage.cache_read * _at(self.cache_read, total)
            + (usage.cache_write - long_writes) * _at(self.cache_write, total)
            + (usage.output - reasoning) * _at(self.output, total)
            + reasoning * _at(self.reasoning, total)
            + long_writes * _at(self.cache_write_1h, total)
        )
        return per_million / 1e6 + self.per_request


# --------------------------------------------------------------------------- genai-prices

_genai_missing = False
_warm_up_started = False


def _snapshot() -> Any:
    """genai-prices' current snapshot (the bundled table), or None when it is not installed."""
    global _genai_missing
    if _genai_missing:
        return None
    try:
        from genai_prices import data_snapshot
    except ImportError:
        _genai_missing = True
        return None
    return data_snapshot.get_snapshot()


def warm_up() -> None:
    """Import genai-prices on a background thread, once, so the first priced span does not wait ~200 ms.

    Called when the first LLM call starts: the call's own network round trip hides the import.
    """
    global _warm_up_started
    if _warm_up_started or _genai_missing:
        return
    _warm_up_started = True

    def load() -> None:
        try:
            _snapshot()
        except Exception:
            logger.debug("botanu: loading genai-prices failed", exc_info=True)

    # No threads left, or the interpreter shutting down: the first lookup imports it instead.
    with contextlib.suppress(Exception):
        threading.Thread(target=load, name="botanu-llm-prices", daemon=True).start()


def _rate_of(value: Any) -> Rate | None:
    if value is None:
        return None
    tiers = getattr(value, "tiers", None)
    if tiers is not None:
        return (float(value.base), tuple((int(tier.start), float(tier.price)) for tier in tiers))
    return (float(value), ())


def _derive(model_price: Any) -> Price:
    """The formula for one genai-prices ``ModelPrice`` (checked by :func:`_agrees` before use)."""
    zero: Rate = (0.0, ())
    requests = _rate_of(getattr(model_price, "requests_kcount", None))
    return Price(
        _rate_of(getattr(model_price, "input_mtok", None)) or zero,
        _rate_of(getattr(model_price, "output_mtok", None)) or zero,
        _rate_of(getattr(model_price, "cache_read_mtok", None)),
        _rate_of(getattr(model_price, "cache_write_mtok", None)),
        _rate_of(getattr(model_price, "output_reasoning_mtok", None)),
        requests[0] / 1000 if requests else 0.0,
        _rate_of(getattr(model_price, "cache_write_1h_mtok", None)),
    )


def _probes(price: Price) -> list[Usage]:
    """Usages on both sides of every tier threshold, with every kind of token."""
    starts = {0}
    for rate in (
        price.input,
        price.output,
        price.cache_read,
        price.cache_write,
        price.reasoning,
        price.cache_write_1h,
    ):
        starts.update(start for start, _ in rate[1])
    probes = []
    for start in sorted(starts):
        n = start + 1000
        probes.append(Usage(input=n, output=n // 2))
        probes.append(Usage(input=n, output=n // 3, cache_read=n // 4, cache_write=n // 8, reasoning=n // 9))
        probes.append(Usage(input=n, output=n // 5, cache_write=n // 3, cache_write_1h=n // 7))
    return probes


def _genai_cost(
    provider: Any, model: Any, usage: Usage, start_ns: int, context: Mapping[str, str] | None = None
) -> float:
    from genai_prices import Usage as GenaiUsage

    when = datetime.fromtimestamp(start_ns / 1e9, tz=timezone.utc) if start_ns else None
    result = model.calc_price(
        GenaiUsage(**usage.genai_kwargs()), provider, genai_request_timestamp=when, price_context=context
    )
    return float(result.total_price)


def _agrees(price: Price, model_price: Any) -> bool:
    from genai_prices import Usage as GenaiUsage

    for usage in _probes(price):
        try:
            expected = float(model_price.calc_price(GenaiUsage(**usage.genai_kwargs()))["total_price"])
        except Exception:
            return False
        if not math.isclose(price.cost(usage), expected, rel_tol=1e-9, abs_tol=1e-12):
            return False
    return True


class GenaiModel:
    """One model of genai-prices' table: priced by the checked formula, else by genai-prices itself."""

    __slots__ = ("_derived", "_fixed", "_variants", "model", "provider")

    def __init__(self, provider: Any, model: Any) -> None:
        self.provider = provider
        self.model = model
        # Service-tier prices (flex, priority) apply to a provider's own models only, as in genai-prices.
        self._variants = bool(getattr(model, "price_variants", None)) and any(
            model is listed for listed in provider.models
        )
        # (id(ModelPrice), tier) -> (that ModelPrice, kept alive so its id is not reused; formula or None).
        self._derived: dict[tuple[int, str | None], tuple[Any, Price | None]] = {}
        # The checked formula of a model with one undated price, once known: most calls need no more.
        self._fixed: Price | None = None

    @property
    def flat_rates(self) -> FlatRates | None:
        """The flat rates of a call with no service tier, once the model's one undated price is known."""
        fixed = self._fixed
        return None if fixed is None else fixed.flat_rates

    def cost(self, usage: Usage, start_ns: int, tier: str | None = None) -> float:
        """USD for ``usage``; ``tier`` is the service tier that served the call (``flex``, ``priority``)."""
        fixed = self._fixed
        if fixed is not None and (tier is None or not self._variants):
            return fixed.cost(usage)
        prices = self.model.prices
        when = None
        if isinstance(prices, list):  # prices that changed on a date or vary by time of day
            when = datetime.fromtimestamp(start_ns / 1e9, tz=timezone.utc) if start_ns else None
            base = self.model.get_prices(when or datetime.now(tz=timezone.utc))
        else:
            base = prices
        context = {"service_tier": tier} if tier is not None and self._variants else None
        key = (id(base), tier if context is not None else None)
        found = self._derived.get(key)
        if found is None:
            model_price = base
            if context is not None:
                model_price = self.model.get_prices(when or datetime.now(tz=timezone.utc), context)
            price: Price | None = _derive(model_price)
            if not _agrees(price, model_price):  # type: ignore[arg-type]
                logger.debug("botanu: %s is priced by genai-prices on every call", self.model.id)
                price = None
            found = (base, price)
            if len(self._derived) < 64:
                self._derived[key] = found
        if found[1] is not None:
            if context is None and not isinstance(prices, list):
                self._fixed = found[1]
            return found[1].cost(usage)
        return _genai_cost(self.provider, self.model, usage, start_ns, context)


# --------------------------------------------------------------------------- the table


class PriceTable:
    """Finds the price of a (provider, model): the overrides first, then genai-prices.

    Lookups are cached per (provider, model) as spelled on the span, unknown ones included.
    """

    def __init__(self, overrides: Mapping[tuple[str, str], Price] | None = None) -> None:
        self.overrides: dict[tuple[str, str], Price] = dict(overrides or {})
        self._cache: dict[tuple[str, str], Price | GenaiModel | None] = {}
        # (provider, model) -> the flat rates of its price, for models already priced once with
        # them: the usual call (input and output tokens only, no service tier) costs two products.
        self._flat: dict[tuple[str, str], FlatRates] = {}

    def flat_rates(self, provider: object, model: object) -> FlatRates | None:
        """The flat rates :meth:`remember_flat` noted for this (provider, model), else None."""
        try:
            return self._flat.get((provider, model))  # type: ignore[arg-type]
        except TypeError:  # an unhashable attribute value (a list): not a name
            return None

    def remember_flat(self, provider: str, model: str, price: Price | GenaiModel) -> None:
        """Note the flat rates of ``price``, just used for (provider, model) with no service tier."""
        rates = price.flat_rates
        if rates is not None:
            if len(self._flat) >= _MAX_CACHED:
                self._flat.clear()
            self._flat[(provider, model)] = rates

    def lookup(self, provider: str, model: str) -> Price | GenaiModel | None:
        """The price of ``model`` from ``provider`` (OTel names), or None when it is not known."""
        key = (provider, model)
        try:
            return self._cache[key]
        except KeyError:
            pass
        found = self._resolve(provider, model)
        if len(self._cache) >= _MAX_CACHED:
            self._cache.clear()
        self._cache[key] = found
        return found

    def _resolve(self, provider: str, model: str) -> Price | GenaiModel | None:
        name = provider.strip().lower()
        ref = model.strip().lower()
        provider_id = genai_provider_id(name)
        override = self.overrides.get((name, ref)) or self.overrides.get((provider_id, ref))
        if override is not None:
            return override
        snapshot = _snapshot()
        if snapshot is None:
            _safety.warn_once(
                ("llm", "genai-prices-missing"),
                "botanu: genai-prices is not installed (pip install 'botanu[llm]'), so LLM calls are priced "
                "only from llm_prices / BOTANU_LLM_PRICES; calls to other models carry no botanu.cost.usd",
            )
            return None
        try:
            found_provider, found_model = snapshot.find_provider_model(model, None, provider_id, None)
        except LookupError:
            return None
        return GenaiModel(found_provider, found_model)


# --------------------------------------------------------------------------- overrides

_FIELDS = ("input", "output", "cache_read", "cache_write")


def _usd_per_million(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    number = float(value)
    return number if math.isfinite(number) and number >= 0 else None


def _read(path: str) -> object:
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    if path.lower().endswith((".yaml", ".yml")):
        try:
            import yaml
        except ImportError:
            raise ValueError("a YAML price file needs PyYAML installed (or write it as JSON)") from None
        return yaml.safe_load(text)
    return json.loads(text)


def load_overrides(source: str | Mapping[str, Any] | None) -> dict[tuple[str, str], Price]:
    """Parse ``llm_prices``: a JSON (or YAML) file path, or a mapping given in code.

    ``{"provider/model": {"input": 2.5, "output": 10, "cache_read": 1.25, "cache_write": 2.5}}`` in
    USD per million tokens; ``input`` and ``output`` are required, a missing cache price is the
    input price. A file that cannot be used gives one warning (strict mode: BotanuUsageError) and
    no overrides; a bad entry is left out and named in that warning.
    """
    if source is None:
        return {}
    where = "llm_prices" if isinstance(source, Mapping) else f"llm_prices file {source!r}"
    try:
        data = source if isinstance(source, Mapping) else _read(os.path.expanduser(str(source)))
    except (OSError, ValueError) as error:  # unreadable, not UTF-8, not JSON, no PyYAML
        _safety.misuse("%s could not be read (%s); no price overrides apply", where, error)
        return {}
    except Exception as error:  # yaml.YAMLError is no ValueError
        _safety.misuse("%s could not be parsed (%s); no price overrides apply", where, type(error).__name__)
        return {}
    if not isinstance(data, Mapping):
        _safety.misuse(
            '%s must map "provider/model" to prices, got %s; no price overrides apply',
            where,
            type(data).__name__,
        )
        return {}
    out: dict[tuple[str, str], Price] = {}
    problems: list[str] = []
    for key, entry in data.items():
        provider, _, model = key.partition("/") if isinstance(key, str) else ("", "", "")
        if not provider.strip() or not model.strip():
            problems.append(f'{_safety.safe_repr(key)} (expected "provider/model")')
            continue
        if not isinstance(entry, Mapping):
            problems.append(f"{key!r} (expected a mapping of prices)")
            continue
        unknown = sorted(str(name) for name in entry if name not in _FIELDS)
        values = {name: _usd_per_million(entry.get(name)) for name in _FIELDS}
        bad = [name for name in _FIELDS if entry.get(name) is not None and values[name] is None]
        missing = [name for name in ("input", "output") if entry.get(name) is None]
        if unknown or bad or missing:
            detail = "; ".join(
                part
                for part in (
                    f"unknown {', '.join(unknown)}" if unknown else "",
                    f"not a non-negative number: {', '.join(bad)}" if bad else "",
                    f"missing {', '.join(missing)}" if missing else "",
                )
                if part
            )
            problems.append(f"{key!r} ({detail})")
            continue
        cache_read, cache_write = values["cache_read"], values["cache_write"]
        out[(provider.strip().lower(), model.strip().lower())] = Price(
            (values["input"], ()),  # type: ignore[arg-type]
            (values["output"], ()),  # type: ignore[arg-type]
            None if cache_read is None else (cache_read, ()),
            None if cache_write is None else (cache_write, ()),
        )
    if problems:
        shown = ", ".join(problems[:5]) + (f" and {len(problems) - 5} more" if len(problems) > 5 else "")
        _safety.misuse(
            "%s: %d entr%s left out: %s (prices are USD per million tokens: input, output, cache_read, "
            "cache_write)",
            where,
            len(problems),
            "y" if len(problems) == 1 else "ies",
            shown,
        )
    return out

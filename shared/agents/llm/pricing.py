"""What a call costs: a price table per model, in USD per million input and output tokens.

The defaults are list prices for a few common hosted models; they change, so treat them as a
starting point and set ``BATON_LLM_PRICES`` (JSON, merged over the defaults) for the models you
run, e.g. ``{"my-vllm-model": {"input": 0, "output": 0}, "gpt-4o": {"input": 2.5, "output": 10}}``.

A model is looked up by its exact name first, then by the longest table entry it starts with, so a
dated snapshot such as ``gpt-4o-mini-2024-07-18`` is priced as ``gpt-4o-mini``. A model in no entry
costs 0 (self-hosted servers usually are), and the client logs that once per model.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shared.agents.llm.client import Usage

PER_TOKENS = 1_000_000


@dataclass(frozen=True)
class Price:
    """USD per one million tokens."""

    input: float
    output: float


DEFAULT_PRICES: Mapping[str, Price] = {
    "gpt-4o-mini": Price(0.15, 0.60),
    "gpt-4o": Price(2.50, 10.00),
    "gpt-4.1": Price(2.00, 8.00),
    "gpt-4.1-mini": Price(0.40, 1.60),
    "gpt-4.1-nano": Price(0.10, 0.40),
    "o4-mini": Price(1.10, 4.40),
    "gpt-5": Price(1.25, 10.00),
    "gpt-5-mini": Price(0.25, 2.00),
    "gpt-5-nano": Price(0.05, 0.40),
}


class PriceTable:
    """Prices per model: the defaults with ``overrides`` (``BATON_LLM_PRICES``) on top."""

    def __init__(self, overrides: Mapping[str, Mapping[Any, float]] | None = None) -> None:
        prices = dict(DEFAULT_PRICES)
        for model, entry in (overrides or {}).items():
            prices[model] = Price(float(entry.get("input", 0.0)), float(entry.get("output", 0.0)))
        self._prices = prices

    def price(self, model: str) -> Price | None:
        """The entry for ``model``: exact name, else the longest entry the name starts with."""
        exact = self._prices.get(model)
        if exact is not None:
            return exact
        matches = [name for name in self._prices if model.startswith(name)]
        if not matches:
            return None
        return self._prices[max(matches, key=len)]

    def cost(self, model: str, usage: Usage) -> float | None:
        """USD for ``usage`` on ``model``; ``None`` when the model has no price."""
        price = self.price(model)
        if price is None:
            return None
        return (usage.input_tokens * price.input + usage.output_tokens * price.output) / PER_TOKENS

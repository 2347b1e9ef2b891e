"""The offline provider: deterministic rules that fill the same contracts as a real model.

It lets the whole pipeline, its budgets and its metrics run with no network. Token counts are
estimated at four characters a token, the usual rule of thumb for English text.
"""

from __future__ import annotations

from shared.agents.llm.client import Availability, LLMRequest, LLMResult, T, Usage

CHARS_PER_TOKEN = 4


def estimate_tokens(text: str) -> int:
    return max(1, -(-len(text) // CHARS_PER_TOKEN))


class OfflineLLM:
    """Answers every request with ``request.offline()``; costs nothing."""

    async def generate(self, request: LLMRequest[T]) -> LLMResult[T]:
        value = request.offline()
        if not isinstance(value, request.schema):
            raise TypeError(f"offline rule for {request.agent} returned {type(value).__name__}")
        usage = Usage(
            input_tokens=estimate_tokens(request.system) + estimate_tokens(request.user),
            output_tokens=estimate_tokens(value.model_dump_json()),
        )
        return LLMResult(value=value, usage=usage, model="offline", cost_usd=0.0)

    @property
    def state(self) -> Availability:
        """Always ``closed``: there is no provider to fail."""
        return "closed"

    async def wait_until_available(self) -> None:
        """Returns at once: the offline provider is always available."""

    async def aclose(self) -> None:
        """Nothing to release."""

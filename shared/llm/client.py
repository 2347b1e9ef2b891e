"""The provider-neutral LLM interface every agent calls."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from pydantic import BaseModel

T = TypeVar("T", bound=BaseModel)


@dataclass(frozen=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.input_tokens + other.input_tokens, self.output_tokens + other.output_tokens
        )


@dataclass(frozen=True)
class LLMRequest(Generic[T]):
    """One structured call.

    Attributes:
        agent: the calling agent (for rate limits, metrics and cost).
        model: the model name for this agent.
        system: the system prompt (trusted).
        user: the user message; event text inside it must already be delimited as untrusted.
        schema: the pydantic model the reply must fill.
        offline: the deterministic rule-based answer the offline provider returns.
    """

    agent: str
    model: str
    system: str
    user: str
    schema: type[T]
    offline: Callable[[], T]
    max_tokens: int = 512
    temperature: float = 0.0


@dataclass(frozen=True)
class LLMResult(Generic[T]):
    value: T
    usage: Usage
    model: str
    cost_usd: float = 0.0


class LLMClient(Protocol):
    async def generate(self, request: LLMRequest[T]) -> LLMResult[T]: ...


@dataclass
class UsageMeter:
    """Wraps a client and adds up what one stage attempt spent."""

    client: LLMClient
    usage: Usage = field(default_factory=Usage)
    cost_usd: float = 0.0
    calls: int = 0

    async def generate(self, request: LLMRequest[T]) -> LLMResult[T]:
        result = await self.client.generate(request)
        self.usage = self.usage + result.usage
        self.cost_usd += result.cost_usd
        self.calls += 1
        return result

"""The provider-neutral LLM interface every agent calls."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, Protocol, TypeVar

from pydantic import BaseModel

from shared.errors import ContractError

T = TypeVar("T", bound=BaseModel)


@dataclass(frozen=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0

    @property
    def total(self) -> int:
        return self.input_tokens + self.output_tokens

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
    """A filled contract and what it took.

    Attributes:
        value: the validated contract.
        usage: tokens the provider reported (estimated when it reported none).
        model: the model that answered, as the provider names it.
        cost_usd: from the price table (``BATON_LLM_PRICES``); 0 for unpriced models.
        attempts: HTTP attempts this call made (1 when the first succeeded).
    """

    value: T
    usage: Usage
    model: str
    cost_usd: float = 0.0
    attempts: int = 1


class InvalidOutputError(ContractError):
    """The model answered, but its reply breaks the contract. The reply's tokens were spent all
    the same: ``usage`` and ``cost_usd`` say how much, so the budget ledger can charge them."""

    def __init__(
        self,
        detail: str,
        *,
        usage: Usage,
        cost_usd: float = 0.0,
        errors: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(detail, errors=errors)
        self.usage = usage
        self.cost_usd = cost_usd


Availability = Literal["closed", "open", "half_open"]
"""The circuit breaker's state, as :attr:`LLMClient.state` reports it."""


class LLMClient(Protocol):
    """What agents and the consumer runtime use.

    * :meth:`generate`: one structured call. Raises ``ContractError`` (reply not JSON or breaking
      the schema; an :class:`InvalidOutputError` when the usage of the rejected reply is known),
      ``PermanentError`` (reason ``llm_error``: rejected request, refusal, content filter) or
      ``RetryableError`` (``llm_unavailable``, ``circuit_open``, ``rate_limited``,
      ``redis_unavailable``: deliver the event again later).
    * :attr:`state`: the provider's circuit breaker: ``closed`` (normal), ``open`` (failing fast
      for a cool-down) or ``half_open`` (one probe call allowed).
    * :meth:`wait_until_available`: the consumer awaits it before taking new events, so a stage
      stops consuming while the provider is down instead of burning deliveries. It returns at once
      when the breaker is closed and never raises; bound it with ``asyncio.timeout`` if needed.
    * :meth:`aclose`: release connections at shutdown.
    """

    async def generate(self, request: LLMRequest[T]) -> LLMResult[T]: ...

    @property
    def state(self) -> Availability: ...

    async def wait_until_available(self) -> None: ...

    async def aclose(self) -> None: ...


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

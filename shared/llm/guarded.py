"""The LLM client an agent gets for one stage attempt: every call is bounded by the guardrails.

Before each call it checks the event's deadline and reserves the call's estimated tokens and cost
in the event's budget ledger; after the call it settles the real usage. It also adds up what the
attempt spent, for the run record.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from shared.guardrails import Budget, BudgetLedger, check_deadline
from shared.llm.client import LLMClient, LLMRequest, LLMResult, T, Usage
from shared.llm.offline import estimate_tokens
from shared.llm.pricing import PriceTable


@dataclass
class GuardedLLM:
    """Args:
    client: the provider client.
    ledger: the shared budget ledger.
    event_id / stage / attempt: name each call, so a redelivery is never charged twice.
    budget: this event's limits.
    created_at / deadline_s: the event's absolute deadline.
    prices: to estimate a call's cost before it is made.
    """

    client: LLMClient
    ledger: BudgetLedger
    event_id: str
    stage: str
    attempt: int
    budget: Budget
    created_at: float
    deadline_s: float
    prices: PriceTable
    usage: Usage = field(default_factory=Usage)
    cost_usd: float = 0.0
    calls: int = 0

    async def generate(self, request: LLMRequest[T]) -> LLMResult[T]:
        check_deadline(self.created_at, self.deadline_s)
        call_id = f"{self.stage}:{self.attempt}:{self.calls}"
        self.calls += 1
        estimate = Usage(
            estimate_tokens(request.system) + estimate_tokens(request.user), request.max_tokens
        )
        estimated_cost = self.prices.cost(request.model, estimate) or 0.0
        await self.ledger.reserve(
            self.event_id, call_id, estimate.total, estimated_cost, self.budget
        )
        result = await self.client.generate(request)
        await self.ledger.settle(self.event_id, call_id, result.usage.total, result.cost_usd)
        self.usage = self.usage + result.usage
        self.cost_usd += result.cost_usd
        return result

"""The LLM client an agent gets for one stage attempt: every call is bounded by the guardrails.

Before each call it checks the event's deadline and reserves the call's estimated tokens and cost
in the event's budget ledger. The real usage of each answered call (a reply the contract rejects
too: its tokens were spent) becomes a :class:`Charge` that the stage's fenced commit settles, in
the same round trip as the stage's output. Until then the reservation holds the budget; an
attempt that ends without a commit leaves it held, and the redelivery repeating the call (same call
id) settles it. A call that failed without a reply releases its reservation at once, so a failed
call never holds budget the event's later calls need. It also adds up what the attempt spent, for
the run record.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import structlog

from shared.commit import REDIS_UNAVAILABLE
from shared.guardrails import MICRO, Budget, BudgetLedger, check_deadline
from shared.llm.client import InvalidOutputError, LLMClient, LLMRequest, LLMResult, T, Usage
from shared.llm.offline import estimate_tokens
from shared.llm.pricing import PriceTable
from shared.outcome import Charge

log = structlog.get_logger("baton.llm")


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
    charges: list[Charge] = field(default_factory=list)

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
        try:
            result = await self.client.generate(request)
        except InvalidOutputError as invalid:
            self._charge(call_id, invalid.usage, invalid.cost_usd)
            raise
        except Exception:
            await self._release(call_id)
            raise
        self._charge(call_id, result.usage, result.cost_usd)
        return result

    def _charge(self, call_id: str, usage: Usage, cost_usd: float) -> None:
        self.charges.append(Charge(call_id, usage.total, round(cost_usd * MICRO)))
        self.usage = self.usage + usage
        self.cost_usd += cost_usd

    async def _release(self, call_id: str) -> None:
        """Best effort: with Redis unreachable the hold stays (the budget errs on the safe side)
        and the call's own error, not Redis's, decides what happens to the event."""
        try:
            await self.ledger.release(self.event_id, call_id)
        except REDIS_UNAVAILABLE as exc:
            log.warning("budget.release_failed", event_id=self.event_id, error=str(exc)[:200])

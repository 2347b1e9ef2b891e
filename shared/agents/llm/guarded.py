"""The LLM client an agent gets for one stage attempt: every call is bounded by the guardrails.

Before each call it checks the event's deadline and the call's estimated tokens and cost against
the event's budget: against the ledger totals stamped on the entry and this attempt's own calls
when the entry has a stamp (:class:`~shared.agents.guardrails.LedgerStamp`), else by a reservation
in the ledger. The real usage of each answered call (a reply the contract rejects
too: its tokens were spent) becomes a :class:`Charge` that the stage's fenced commit settles, in
the same round trip as the stage's output. Until then a reservation holds the budget; an
attempt that ends without a commit leaves it held, and the redelivery repeating the call (same call
id) settles it. A call that failed without a reply releases its reservation at once, so a failed
call never holds budget the event's later calls need. It also adds up what the attempt spent, for
the run record.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import structlog

from shared.agents.guardrails import (
    MICRO,
    Budget,
    BudgetLedger,
    LedgerStamp,
    Spend,
    budget_exceeded,
    check_deadline,
)
from shared.agents.llm.client import InvalidOutputError, LLMClient, LLMRequest, LLMResult, T, Usage
from shared.agents.llm.offline import estimate_tokens
from shared.agents.llm.pricing import PriceTable
from shared.errors import REDIS_UNAVAILABLE
from shared.runtime.outcome import Charge

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
    stamp: the ledger totals stamped on the entry, if its calls are checked against them.
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
    stamp: LedgerStamp | None = None
    usage: Usage = field(default_factory=Usage)
    cost_usd: float = 0.0
    calls: int = 0
    charges: list[Charge] = field(default_factory=list)
    _in_flight: list[Charge] = field(default_factory=list)
    """Estimates of this attempt's unanswered calls, when checked against the stamp."""

    async def generate(self, request: LLMRequest[T]) -> LLMResult[T]:
        check_deadline(self.created_at, self.deadline_s)
        call_id = f"{self.stage}:{self.attempt}:{self.calls}"
        self.calls += 1
        estimate = Usage(
            estimate_tokens(request.system) + estimate_tokens(request.user), request.max_tokens
        )
        estimated_cost = self.prices.cost(request.model, estimate) or 0.0
        if self.stamp is None:
            await self.ledger.reserve(
                self.event_id, call_id, estimate.total, estimated_cost, self.budget
            )
            return await self._call(call_id, request)
        hold = Charge(call_id, estimate.total, round(estimated_cost * MICRO))
        self._check_stamp(self.stamp, hold)
        self._in_flight.append(hold)
        try:
            return await self._call(call_id, request)
        finally:
            self._in_flight.remove(hold)

    async def _call(self, call_id: str, request: LLMRequest[T]) -> LLMResult[T]:
        try:
            result = await self.client.generate(request)
        except InvalidOutputError as invalid:
            self._charge(call_id, invalid.usage, invalid.cost_usd)
            raise
        except Exception:
            if self.stamp is None:
                await self._release(call_id)
            raise
        self._charge(call_id, result.usage, result.cost_usd)
        return result

    def _check_stamp(self, stamp: LedgerStamp, call: Charge) -> None:
        """Raise if the stamped totals, this attempt's calls and ``call`` exceed the budget."""
        counted = (*self.charges, *self._in_flight)
        tokens = stamp.tokens + sum(c.tokens for c in counted)
        micro = stamp.micro_usd + sum(c.micro_usd for c in counted)
        budget = self.budget
        if tokens + call.tokens > budget.tokens or micro + call.micro_usd > round(
            budget.usd * MICRO
        ):
            raise budget_exceeded(Spend(tokens, micro / MICRO), budget, call.tokens)

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

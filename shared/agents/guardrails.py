"""Guardrails that bound the work spent on one event, across every service.

* A **budget ledger** in Redis: tokens and USD per event, checked before each LLM call and settled
  with the real usage after; a redelivered event is never charged twice for the same call. A
  call is checked against the ledger totals stamped on its entry when there is a stamp (see
  :class:`LedgerStamp`), else reserved in the ledger.
* A **hop limit**, **loop detection** (a stage seeing the same input again) and an absolute
  **deadline** from intake time.

Tripping one raises :class:`GuardrailError`; the run then ends with a graceful partial result:
budget and deadline go to a human (escalation), hops and loops to the dead-letter stream.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import Any

import orjson
from redis.asyncio import Redis

from shared.errors import GuardrailError, PermanentError
from shared.pipeline.envelope import Fields
from shared.pipeline.keys import Keys
from shared.runtime.channel import Channel
from shared.runtime.commit import load_lua
from shared.runtime.scriptbatch import ScriptBatch

BUDGET_EXCEEDED = "budget_exceeded"
DEADLINE_EXCEEDED = "deadline_exceeded"
MAX_HOPS = "max_hops"
LOOP_DETECTED = "loop_detected"
MICRO = 1_000_000


@dataclass(frozen=True)
class Budget:
    tokens: int
    usd: float


@dataclass(frozen=True)
class Spend:
    tokens: int
    usd: float


SPENT_FIELD = b"spent"


@dataclass(frozen=True)
class LedgerStamp:
    """An event's ledger totals (settled plus held) as the commit that published an entry left
    them, carried in the entry's ``spent`` field (``"<tokens>:<micro_usd>"``).

    Between that commit and an entry's first delivery no stage spends on the event: the stages
    before had committed, and the next one is the reader. So the reader checks its calls against
    the stamp plus its own spending, without a round trip, and its commit settles them as before.
    A redelivery reserves in the ledger itself. What this gives up: a worker that lost its entry
    to a peer and still runs (its commit will be fenced off) spends unseen by the stamp.
    """

    tokens: int
    micro_usd: int

    @classmethod
    def of(cls, fields: Fields | None, delivery_count: int) -> LedgerStamp | None:
        """The stamp of a first delivery; None for a redelivery or an entry without one (a
        producer's submission, a replay, a publisher that predates stamps)."""
        raw = fields.get(SPENT_FIELD) if fields is not None and delivery_count == 1 else None
        if raw is None:
            return None
        tokens, _, micro = raw.partition(b":")
        try:
            return cls(int(tokens), int(micro))
        except ValueError:
            return None


def budget_exceeded(spent: Spend, budget: Budget, tokens: int) -> GuardrailError:
    return GuardrailError(
        f"budget exceeded: spent {spent.tokens} tokens / ${spent.usd:.4f} of "
        f"{budget.tokens} / ${budget.usd:.4f}; next call needs about {tokens} tokens",
        reason=BUDGET_EXCEEDED,
    )


class BudgetLedger:
    """The per-event ledger, shared by every service and replica through Redis.

    Calls made at the same moment (a read batch's entries) share one round trip, on ``channel``
    when given (:meth:`aclose` closes it), else on ``redis``'s pool.
    """

    def __init__(
        self, redis: Redis, keys: Keys, ttl_s: int, channel: Channel | None = None
    ) -> None:
        self._redis = redis
        self._keys = keys
        self._ttl_s = ttl_s
        self._script = ScriptBatch(channel or redis, load_lua("budget.lua"))

    async def aclose(self) -> None:
        await self._script.aclose()

    async def reserve(
        self, event_id: str, call_id: str, tokens: int, usd: float, budget: Budget
    ) -> None:
        """Hold ``tokens``/``usd`` for a call, or raise if the budget cannot cover it."""
        ok = await self._call("reserve", event_id, call_id, tokens, usd, budget)
        if not ok:
            raise budget_exceeded(await self.spent(event_id), budget, tokens)

    async def settle(self, event_id: str, call_id: str, tokens: int, usd: float) -> bool:
        """Charge the real usage of a call; False when it was already charged (a redelivery)."""
        return bool(await self._call("settle", event_id, call_id, tokens, usd, Budget(0, 0)))

    async def release(self, event_id: str, call_id: str) -> bool:
        """Drop a call's reservation without charging it (the call failed with no answer);
        False when there was none (never reserved, or already settled)."""
        return bool(await self._call("release", event_id, call_id, 0, 0, Budget(0, 0)))

    async def spent(self, event_id: str) -> Spend:
        tokens, micro = await self._redis.hmget(self._keys.budget(event_id), "tokens", "micro_usd")
        return Spend(int(tokens or 0), int(micro or 0) / MICRO)

    async def _call(
        self, op: str, event_id: str, call_id: str, tokens: int, usd: float, budget: Budget
    ) -> int:
        args: list[str | int] = [
            op,
            call_id,
            tokens,
            round(usd * MICRO),
            budget.tokens,
            round(budget.usd * MICRO),
            self._ttl_s,
        ]
        result: int = await self._script.call([self._keys.budget(event_id)], args)
        return result


def check_deadline(created_at: float, deadline_s: float, now: float | None = None) -> None:
    elapsed = (now or time.time()) - created_at
    if elapsed > deadline_s:
        raise GuardrailError(
            f"deadline exceeded: {elapsed:.1f}s since intake, limit {deadline_s:.0f}s",
            reason=DEADLINE_EXCEEDED,
        )


def check_hops(hops: int, max_hops: int) -> None:
    if hops >= max_hops:
        raise PermanentError(f"hop limit reached: {hops} hops (max {max_hops})", reason=MAX_HOPS)


def fingerprint(stage: str, payload: dict[str, Any]) -> str:
    """A short digest of what a stage is asked to do."""
    digest = hashlib.blake2b(orjson.dumps(payload, option=orjson.OPT_SORT_KEYS), digest_size=8)
    return f"{stage}:{digest.hexdigest()}"


def check_loop(trail: list[str], print_: str) -> None:
    """Raise when a stage would see an input it has already been given for this event."""
    if print_ in trail:
        stage = print_.split(":", 1)[0]
        raise PermanentError(
            f"loop detected: {stage} would receive the same input again "
            f"(seen after {len(trail)} routed hops)",
            reason=LOOP_DETECTED,
        )

"""Agents are plain async handlers: typed contract in, typed contract out.

:class:`AgentStage` adapts such a handler to the consumer runtime: it validates the input contract,
gives the handler a metered LLM client, and publishes the output to the handoffs stream for the
validator, with the input attached so the validator can send it back with feedback.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar, cast

from pydantic import ValidationError
from redis.asyncio import Redis

from shared.agents.guardrails import Budget, BudgetLedger, LedgerStamp, check_deadline
from shared.agents.llm import LLMClient, build_llm
from shared.agents.llm.guarded import GuardedLLM
from shared.agents.llm.pricing import PriceTable
from shared.errors import ContractError, GuardrailError
from shared.pipeline import AgentSpec
from shared.pipeline.contracts import Contract
from shared.pipeline.envelope import Envelope, Halt, validation_errors
from shared.pipeline.settings import BatonSettings
from shared.pipeline.submission import decode_submission
from shared.runtime.channel import channel_for
from shared.runtime.delivery import Delivery
from shared.runtime.outcome import Outcome, Publish, Step

In = TypeVar("In", bound=Contract)
Out = TypeVar("Out", bound=Contract)
S = TypeVar("S", bound=BatonSettings)


@dataclass
class AgentContext(Generic[S]):
    """What a handler may use besides its input. It never sees Redis or acknowledgements."""

    event_id: str
    settings: S
    llm: GuardedLLM
    attempt: int = 0
    feedback: list[str] = field(default_factory=list)
    results: dict[str, dict[str, Any]] = field(default_factory=dict)


Handler = Callable[[In, AgentContext[S]], Awaitable[Out]]


_NOT_DECISIONS = frozenset({"text", "reply", "summary"})


def default_decision(result: dict[str, Any]) -> dict[str, Any]:
    """The short, scalar fields of a result (as JSON data): what a run record shows as the
    stage's decision."""
    return {
        k: v
        for k, v in result.items()
        if k not in _NOT_DECISIONS and isinstance(v, str | int | float | bool) and len(str(v)) <= 40
    }


def invalid_output_feedback(invalid: ContractError) -> list[str]:
    """What was wrong with a model's reply, field by field, for the clarification retry."""
    problems = [invalid.detail]
    for error in invalid.errors:
        problems.append(f"{error['loc']}: {error['msg']}" if error.get("loc") else error["msg"])
    return [p[:200] for p in problems[:10] if p]


class AgentStage(Generic[In, Out, S]):
    """Runs one agent handler as a stage of the pipeline.

    A guardrail tripped during the handler (budget, deadline) does not fail the event: the stage
    hands the validator a ``halt`` with the reason, and the validator ends the run gracefully.
    """

    def __init__(
        self,
        service: str,
        input_type: type[In],
        handler: Handler[In, S, Out],
        settings: S,
        llm: LLMClient,
        ledger: BudgetLedger,
    ) -> None:
        self.service = service
        self.stream = settings.keys.stream(service)
        self.input_type = input_type
        self.handler = handler
        self.settings = settings
        self.llm = llm
        self.ledger = ledger
        self.keys = settings.keys
        self.prices = PriceTable(settings.llm_prices)

    def decode(self, delivery: Delivery) -> Envelope:
        assert delivery.fields is not None
        return Envelope.from_fields(delivery.fields)

    async def ready(self) -> None:
        """Wait while the LLM provider's circuit breaker is open."""
        await self.llm.wait_until_available()

    async def aclose(self) -> None:
        await self.llm.aclose()
        await self.ledger.aclose()

    def parse_input(self, envelope: Envelope) -> In:
        try:
            return self.input_type.model_validate(envelope.payload)
        except ValidationError as exc:
            raise ContractError(
                f"{self.service} input breaks {self.input_type.__name__}",
                errors=validation_errors(exc),
                event_id=envelope.event_id,
            ) from exc

    def guarded_llm(self, envelope: Envelope, delivery: Delivery) -> GuardedLLM:
        settings = self.settings
        budget = Budget(
            tokens=envelope.budget_tokens or settings.budget_tokens,
            usd=settings.budget_usd if envelope.budget_usd is None else envelope.budget_usd,
        )
        return GuardedLLM(
            client=self.llm,
            ledger=self.ledger,
            event_id=envelope.event_id,
            stage=self.service,
            attempt=envelope.attempt,
            budget=budget,
            created_at=envelope.created_at,
            deadline_s=settings.deadline_s,
            prices=self.prices,
            stamp=LedgerStamp.of(delivery.fields, delivery.count),
        )

    async def handle(self, envelope: Envelope, delivery: Delivery) -> Outcome:
        request = self.parse_input(envelope)
        llm = self.guarded_llm(envelope, delivery)
        context = AgentContext(
            event_id=envelope.event_id,
            settings=self.settings,
            llm=llm,
            attempt=envelope.attempt,
            feedback=list(envelope.feedback),
            results=envelope.results,
        )
        started = time.time()
        try:
            check_deadline(envelope.created_at, self.settings.deadline_s)
            result = await self.handler(request, context)
        except ContractError as invalid:
            # The model's output broke the contract: the validator decides on a clarification
            # retry (with this finding as feedback) or the dead-letter stream.
            handoff = envelope.next(
                self.service,
                {},
                input=envelope.payload,
                attempt=envelope.attempt,
                feedback=invalid_output_feedback(invalid),
            )
            decision = {"invalid_output": invalid.reason}
            return self._outcome(envelope, handoff, started, llm, "invalid_output", decision)
        except GuardrailError as tripped:
            halt = Halt(reason=tripped.reason, detail=tripped.detail[:1000])
            handoff = envelope.next(
                self.service, {}, input=envelope.payload, attempt=envelope.attempt, halt=halt
            )
            return self._outcome(envelope, handoff, started, llm, "halted", {"halt": halt.reason})
        output = result.model_dump(mode="json")
        handoff = envelope.next(
            self.service, output, input=envelope.payload, attempt=envelope.attempt
        )
        return self._outcome(envelope, handoff, started, llm, "ok", default_decision(output))

    def _outcome(
        self,
        envelope: Envelope,
        handoff: Envelope,
        started: float,
        llm: GuardedLLM,
        outcome: str,
        decision: dict[str, Any],
    ) -> Outcome:
        step = Step(
            stage=self.service,
            outcome=outcome,
            started_at=started,
            ended_at=time.time(),
            attempt=envelope.attempt,
            llm_calls=llm.calls,
            tokens_in=llm.usage.input_tokens,
            tokens_out=llm.usage.output_tokens,
            cost_usd=llm.cost_usd,
            decision=decision,
        )
        return Outcome(
            event_id=envelope.event_id,
            publishes=[Publish(self.keys.handoffs, handoff.to_fields())],
            step=step,
            dedupe_key=self.dedupe_key(envelope),
            created_at=envelope.created_at,
            charges=tuple(llm.charges),
        )

    def dedupe_key(self, envelope: Envelope) -> str | None:
        """Idempotency marker for this output; only intake dedupes (see IntakeStage)."""
        return None


class IntakeStage(AgentStage[In, Out, S]):
    """The intake agent's stage: it also accepts producers' raw ``payload`` entries.

    A raw submission is the first sight of an event, so its output carries the idempotency
    marker: the same ``event_id`` posted twice (even concurrently) produces one handoff.
    Clarification retries arrive as envelopes and are not deduplicated.
    """

    def decode(self, delivery: Delivery) -> Envelope:
        assert delivery.fields is not None
        if b"envelope" in delivery.fields:
            return Envelope.from_fields(delivery.fields)
        return decode_submission(
            delivery.fields, delivery.entry_id, self.settings.max_payload_bytes
        )

    def dedupe_key(self, envelope: Envelope) -> str | None:
        return self.keys.seen(envelope.event_id) if envelope.stage == "producer" else None


def agent_stage(
    stage_class: type[AgentStage[In, Out, S]],
    spec: AgentSpec[Any],
    handler: Handler[In, S, Out],
    settings: S,
    redis: Redis,
) -> AgentStage[In, Out, S]:
    """Wire the agent ``spec`` declares: its handler, its LLM client and the shared budget
    ledger, both on ``redis`` (the ledger's reservations on a channel of their own)."""
    ledger = BudgetLedger(redis, settings.keys, settings.run_retention_s, channel_for(redis))
    input_type = cast("type[In]", spec.input)  # the handler's In, as the spec declares it
    llm = build_llm(settings, redis)
    return stage_class(spec.name, input_type, handler, settings, llm, ledger)

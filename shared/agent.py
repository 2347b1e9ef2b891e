"""Agents are plain async handlers: typed contract in, typed contract out.

:class:`AgentStage` adapts such a handler to the consumer runtime: it validates the input contract,
gives the handler a metered LLM client, and publishes the output to the handoffs stream for the
validator, with the input attached so the validator can send it back with feedback.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from shared.config import BatonSettings
from shared.contracts import Contract
from shared.delivery import Delivery
from shared.envelope import Envelope, Stage, validation_errors
from shared.errors import ContractError
from shared.llm import LLMClient, UsageMeter
from shared.outcome import Outcome, Publish, Step
from shared.submission import decode_submission

In = TypeVar("In", bound=Contract)
Out = TypeVar("Out", bound=Contract)
S = TypeVar("S", bound=BatonSettings)


@dataclass
class AgentContext(Generic[S]):
    """What a handler may use besides its input. It never sees Redis or acknowledgements."""

    event_id: str
    settings: S
    llm: UsageMeter
    attempt: int = 0
    feedback: list[str] = field(default_factory=list)
    results: dict[str, dict[str, Any]] = field(default_factory=dict)


Handler = Callable[[In, AgentContext[S]], Awaitable[Out]]


def default_decision(result: BaseModel) -> dict[str, Any]:
    """The short, scalar fields of a result: what a run record shows as the stage's decision."""
    skip = {"text", "reply", "summary"}
    return {
        k: v
        for k, v in result.model_dump(mode="json").items()
        if k not in skip and isinstance(v, str | int | float | bool) and len(str(v)) <= 40
    }


class AgentStage(Generic[In, Out, S]):
    """Runs one agent handler as a stage of the pipeline."""

    def __init__(
        self,
        service: Stage,
        input_type: type[In],
        handler: Handler[In, S, Out],
        settings: S,
        llm: LLMClient,
    ) -> None:
        self.service = service
        self.input_type = input_type
        self.handler = handler
        self.settings = settings
        self.llm = llm
        self.keys = settings.keys

    def decode(self, delivery: Delivery) -> Envelope:
        assert delivery.fields is not None
        return Envelope.from_fields(delivery.fields)

    def parse_input(self, envelope: Envelope) -> In:
        try:
            return self.input_type.model_validate(envelope.payload)
        except ValidationError as exc:
            raise ContractError(
                f"{self.service} input breaks {self.input_type.__name__}",
                errors=validation_errors(exc),
                event_id=envelope.event_id,
            ) from exc

    async def handle(self, envelope: Envelope, delivery: Delivery) -> Outcome:
        request = self.parse_input(envelope)
        meter = UsageMeter(self.llm)
        context = AgentContext(
            event_id=envelope.event_id,
            settings=self.settings,
            llm=meter,
            attempt=envelope.attempt,
            feedback=list(envelope.feedback),
            results=envelope.results,
        )
        started = time.time()
        result = await self.handler(request, context)
        handoff = envelope.next(
            self.service,
            result.model_dump(mode="json"),
            input=envelope.payload,
            attempt=envelope.attempt,
        )
        step = Step(
            stage=self.service,
            outcome="ok",
            started_at=started,
            ended_at=time.time(),
            attempt=envelope.attempt,
            tokens_in=meter.usage.input_tokens,
            tokens_out=meter.usage.output_tokens,
            cost_usd=meter.cost_usd,
            decision=default_decision(result),
        )
        return Outcome(
            event_id=envelope.event_id,
            publishes=[Publish(self.keys.handoffs, handoff.to_fields())],
            step=step,
            dedupe_key=self.dedupe_key(envelope),
            created_at=envelope.created_at,
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

"""The validator: checks every agent output and is the only router between stages.

It knows no agent: the pipeline spec gives, for the agent that produced an output, its output
contract, its domain checks and its routing rule, and the routes it may take. An output that passes
its contract and the checks is routed on; one that fails goes back to its agent with the problems
as feedback, at most ``validator_max_clarifications`` times, then to a human: an escalation
``invalid_agent_output`` carrying what the earlier stages produced
(``validator_invalid_output=dead_letter`` sends it to the dead-letter stream as
``contract_violation`` instead). A malformed handoff, one that no agent can be asked to redo, is
dead-lettered: that is for an operator to repair.
"""

from __future__ import annotations

import time
from typing import Any

from pydantic import ValidationError

from services.validator.escalation import escalation_fields
from services.validator.settings import ValidatorSettings
from shared.agents.guardrails import (
    BudgetLedger,
    check_deadline,
    check_hops,
    check_loop,
    fingerprint,
)
from shared.errors import ContractError, GuardrailError
from shared.pipeline import ESCALATIONS, RESPONSES, AgentSpec, Pipeline
from shared.pipeline.contracts import Contract
from shared.pipeline.envelope import Envelope, validation_errors
from shared.pipeline.routing import Decision, Escalate, Forward, Respond, RouteContext
from shared.runtime.delivery import Delivery
from shared.runtime.outcome import Outcome, Publish, RunStatus, Step

INVALID_AGENT_OUTPUT = "invalid_agent_output"


class ValidatorStage:
    service = "validator"

    def __init__(
        self, settings: ValidatorSettings, ledger: BudgetLedger, pipeline: Pipeline
    ) -> None:
        self.settings = settings
        self._escalates_invalid_output = settings.validator_invalid_output == "escalate"
        self.keys = settings.keys
        self.stream = settings.keys.handoffs
        self.ledger = ledger
        self.pipeline = pipeline
        self.check_context = pipeline.check_context()

    def decode(self, delivery: Delivery) -> Envelope:
        assert delivery.fields is not None
        return Envelope.from_fields(delivery.fields)

    async def ready(self) -> None:
        return None

    async def aclose(self) -> None:
        await self.ledger.aclose()

    async def handle(self, envelope: Envelope, delivery: Delivery) -> Outcome:
        started = time.time()
        stopped = self._guardrail_stop(envelope)
        if stopped is not None:
            reason, detail = stopped
            return await self._escalate(envelope, envelope.results, reason, started, detail)
        check_hops(envelope.hops, self.settings.max_hops)
        if not self.pipeline.is_agent(envelope.stage):
            raise ContractError(
                f"handoff from unexpected stage {envelope.stage!r}", event_id=envelope.event_id
            )
        agent = self.pipeline.agent(envelope.stage)
        errors: list[dict[str, Any]] = []
        try:
            result = agent.output.model_validate(envelope.payload)
            problems = agent.check(result, self.check_context)
        except ValidationError as exc:
            if envelope.feedback:
                # The agent already found its model's reply invalid and says why; its payload
                # is empty, so validating it would only add "field required" noise.
                problems = list(envelope.feedback)[:10]
            else:
                errors = validation_errors(exc)
                problems = [f"{e['loc']}: {e['msg']}" for e in errors][:10]
        if problems:
            return await self._reject(envelope, problems, errors, started)
        return await self._route(agent, envelope, result, started)

    def _guardrail_stop(self, envelope: Envelope) -> tuple[str, str] | None:
        """An agent's halt, or the deadline passing: the run ends with a human."""
        if envelope.halt is not None:
            return envelope.halt.reason, envelope.halt.detail
        try:
            check_deadline(envelope.created_at, self.settings.deadline_s)
        except GuardrailError as exc:
            return exc.reason, exc.detail
        return None

    async def _reject(
        self, envelope: Envelope, problems: list[str], errors: list[dict[str, Any]], started: float
    ) -> Outcome:
        agent = envelope.stage
        exhausted = envelope.attempt >= self.settings.validator_max_clarifications
        if envelope.input is not None and exhausted and self._escalates_invalid_output:
            detail = (
                f"{agent} output rejected after {envelope.attempt + 1} attempt(s): "
                + "; ".join(problems)
            )[:1000]
            return await self._escalate(
                envelope, envelope.results, INVALID_AGENT_OUTPUT, started, detail, "rejected"
            )
        if envelope.input is None or exhausted:
            raise ContractError(
                f"{agent} output rejected after {envelope.attempt + 1} attempt(s): "
                + "; ".join(problems),
                errors=errors or [{"loc": "", "msg": p, "type": "domain"} for p in problems],
                event_id=envelope.event_id,
            )
        retry = envelope.next(
            "validator",
            envelope.input,
            attempt=envelope.attempt + 1,
            feedback=[p[:200] for p in problems],
            clarifications=envelope.clarifications + 1,
        )
        decision = {"verdict": "rejected", "checked": agent, "problems": problems}
        publish = self._to_agent(agent, retry)
        return self._outcome(envelope, started, "clarification_requested", decision, [publish])

    async def _route(
        self, agent: AgentSpec[Any], envelope: Envelope, result: Contract, started: float
    ) -> Outcome:
        results = {**envelope.results, envelope.stage: envelope.payload}
        context = RouteContext(
            event_id=envelope.event_id,
            results=results,
            input=envelope.input or {},
            clarifications=envelope.clarifications,
            settings=self.settings,
        )
        try:
            decision = agent.route(result, context)
        except (KeyError, ValidationError) as exc:
            raise ContractError(
                f"{agent.name}'s output cannot be routed: {exc!r}"[:300], event_id=envelope.event_id
            ) from exc
        _check_allowed(agent, decision)
        if isinstance(decision, Escalate):
            return await self._escalate(envelope, results, decision.reason, started)
        if isinstance(decision, Respond):
            return self._respond(envelope, decision, started)
        return self._forward(envelope, results, decision, started)

    async def _escalate(
        self,
        envelope: Envelope,
        results: dict[str, Any],
        reason: str,
        started: float,
        detail: str | None = None,
        verdict: str | None = None,
    ) -> Outcome:
        spent = await self.ledger.spent(envelope.event_id)
        fields = escalation_fields(
            envelope, reason, results, spent=spent, detail=detail, summarise=self.pipeline.summarise
        )
        decision = {
            "verdict": verdict or ("accepted" if detail is None else "halted"),
            "checked": envelope.stage,
            "route": "escalations",
        }
        return self._outcome(
            envelope,
            started,
            "escalated",
            decision,
            [Publish(self.keys.escalations, fields)],
            status="escalated",
            reason=reason,
        )

    def _forward(
        self, envelope: Envelope, results: dict[str, Any], forward: Forward, started: float
    ) -> Outcome:
        decision = {"verdict": "accepted", "checked": envelope.stage, "route": forward.target}
        payload = forward.payload.model_dump(mode="json")
        mark = fingerprint(forward.target, payload)
        check_loop(envelope.trail, mark)
        nxt = envelope.next("validator", payload, results=results, trail=[*envelope.trail, mark])
        return self._outcome(
            envelope, started, "routed", decision, [self._to_agent(forward.target, nxt)]
        )

    def _to_agent(self, agent: str, envelope: Envelope) -> Publish:
        """The handoff to an agent, stamped with the event's ledger totals (what its calls are
        checked against)."""
        ledger = self.keys.budget(envelope.event_id)
        return Publish(self.keys.stream(agent), envelope.to_fields(), ledger)

    def _respond(self, envelope: Envelope, respond: Respond, started: float) -> Outcome:
        fields = {
            b"event_id": envelope.event_id.encode(),
            b"response": respond.response.model_dump_json().encode(),
        }
        if envelope.traceparent:
            fields[b"traceparent"] = envelope.traceparent.encode()
        decision = {"verdict": "accepted", "checked": envelope.stage, "route": RESPONSES}
        return self._outcome(
            envelope,
            started,
            "responded",
            decision,
            [Publish(self.keys.responses, fields)],
            status="responded",
        )

    def _outcome(
        self,
        envelope: Envelope,
        started: float,
        outcome: str,
        decision: dict[str, Any],
        publishes: list[Publish],
        *,
        status: RunStatus = "in_progress",
        reason: str | None = None,
    ) -> Outcome:
        step = Step(
            stage="validator",
            outcome=outcome,
            started_at=started,
            ended_at=time.time(),
            attempt=envelope.attempt,
            reason=reason,
            decision=decision,
        )
        return Outcome(
            event_id=envelope.event_id,
            publishes=publishes,
            step=step,
            status=status,
            reason=reason,
            created_at=envelope.created_at,
        )


def _check_allowed(agent: AgentSpec[Any], decision: Decision) -> None:
    """A routing rule may only take the routes the spec declares for its agent."""
    if isinstance(decision, Forward):
        target = decision.target
    else:
        target = ESCALATIONS if isinstance(decision, Escalate) else RESPONSES
    if target not in agent.routes:
        raise ContractError(
            f"{agent.name} may not route to {target!r}; its routes: {', '.join(agent.routes)}"
        )

"""What the validator's decisions become: the outcome of an entry, with its publishes (an
escalation packet, the next agent's input, the final response) and its run-record step; and the
check that a routing rule took a route its declaration allows."""

from __future__ import annotations

import time
from typing import Any

from services.validator.escalation import escalation_fields
from services.validator.settings import ValidatorSettings
from shared.agents.guardrails import BudgetLedger, check_loop, fingerprint
from shared.errors import ContractError
from shared.pipeline import ESCALATIONS, RESPONSES, AgentSpec, Pipeline
from shared.pipeline.envelope import Envelope
from shared.pipeline.join import JoinSpec
from shared.pipeline.routing import Decision, Escalate, FanOut, Forward, Respond
from shared.runtime.outcome import Outcome, Publish, RunStatus, Step


class Outcomes:
    """The validator's outcome builders (the base of :class:`ValidatorStage`)."""

    def __init__(
        self, settings: ValidatorSettings, ledger: BudgetLedger, pipeline: Pipeline
    ) -> None:
        self.settings = settings
        self.keys = settings.keys
        self.ledger = ledger
        self.pipeline = pipeline

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
            branch=envelope.branch_ref,
        )
        return Outcome(
            event_id=envelope.event_id,
            publishes=publishes,
            step=step,
            status=status,
            reason=reason,
            created_at=envelope.created_at,
        )


def check_allowed(rule: AgentSpec[Any] | JoinSpec, decision: Decision) -> None:
    """A routing rule (an agent's, or a join's merge) may only take the routes the spec declares
    for it; only an agent may fan out, and only to a join it declares."""
    if isinstance(decision, FanOut):
        declared = [j.name for j in rule.joins] if isinstance(rule, AgentSpec) else []
        if decision.join not in declared:
            raise ContractError(
                f"{rule.name} may not fan out to join {decision.join!r}; its joins: "
                + (", ".join(declared) or "none")
            )
        return
    if isinstance(decision, Forward):
        target = decision.target
    else:
        target = ESCALATIONS if isinstance(decision, Escalate) else RESPONSES
    if target not in rule.routes:
        raise ContractError(
            f"{rule.name} may not route to {target!r}; its routes: {', '.join(rule.routes)}"
        )

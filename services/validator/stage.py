"""The validator: checks every agent output and is the only router between stages.

It knows no agent: the pipeline spec gives, for the agent that produced an output, its output
contract, its domain checks and its routing rule, and the routes it may take. An output that passes
its contract and the checks is routed on; one that fails goes back to its agent with the problems
as feedback, at most ``validator_max_clarifications`` times, then to a human: an escalation
``invalid_agent_output`` carrying what the earlier stages produced
(``validator_invalid_output=dead_letter`` sends it to the dead-letter stream as
``contract_violation`` instead). A malformed handoff, one that no agent can be asked to redo, is
dead-lettered: that is for an operator to repair.

Parallel branches (:mod:`shared.pipeline.join`): a ``FanOut`` decision publishes the branches and
opens their join; a branch's valid output is recorded in its join instead of routed, and a branch
that cannot finish (a guardrail, an output that kept failing) is recorded as failed; when the join
closes, its ``join_ready`` entry comes here, and the join's ``merge`` decides where the event goes.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from pydantic import ValidationError

from services.validator import joins
from services.validator.outcomes import Outcomes, check_allowed
from services.validator.settings import ValidatorSettings
from shared.agents.guardrails import (
    BudgetLedger,
    check_deadline,
    check_hops,
)
from shared.errors import ContractError, GuardrailError, PermanentError
from shared.pipeline import AgentSpec, Pipeline
from shared.pipeline.contracts import Contract
from shared.pipeline.envelope import Envelope, validation_errors
from shared.pipeline.join import JOIN_PARTIAL, JoinResult, JoinSpec
from shared.pipeline.routing import Escalate, FanOut, Forward, Respond, RouteContext
from shared.runtime.delivery import Delivery
from shared.runtime.join import JoinSweeper, arrive_op, fail_op, load_join, ready_join
from shared.runtime.jsonbytes import compact_json
from shared.runtime.outcome import Outcome, evolve

INVALID_AGENT_OUTPUT = "invalid_agent_output"


class ValidatorStage(Outcomes):
    service = "validator"

    def __init__(
        self, settings: ValidatorSettings, ledger: BudgetLedger, pipeline: Pipeline
    ) -> None:
        super().__init__(settings, ledger, pipeline)
        self._escalates_invalid_output = settings.validator_invalid_output == "escalate"
        self.stream = settings.keys.handoffs
        self.check_context = pipeline.check_context()

    def decode(self, delivery: Delivery) -> Envelope:
        assert delivery.fields is not None
        return Envelope.from_fields(delivery.fields)

    async def ready(self) -> None:
        return None

    async def aclose(self) -> None:
        await self.ledger.aclose()

    async def upkeep(self, stop: asyncio.Event) -> None:
        """Close overdue joins as partial (when the pipeline has joins) until ``stop``."""
        if self.pipeline.joins:
            sweeper = JoinSweeper(self.ledger.redis, self.keys, self.settings.reclaim_interval_s)
            await sweeper.run(stop)

    async def handle(self, envelope: Envelope, delivery: Delivery) -> Outcome:
        started = time.time()
        stopped = self._guardrail_stop(envelope)
        if stopped is not None:
            reason, detail = stopped
            if envelope.join is not None:
                return self._fail_branch(envelope, reason, started, "halted")
            return await self._escalate(envelope, envelope.results, reason, started, detail)
        ready = ready_join(delivery.fields)
        if ready is not None:
            return await self._merge(envelope, ready, started)
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
        if envelope.join is not None:
            return self._arrive(envelope, started)
        return await self._route(agent, envelope, result, started, delivery)

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
            if envelope.join is not None:
                return self._fail_branch(envelope, INVALID_AGENT_OUTPUT, started, "rejected")
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
        self,
        agent: AgentSpec[Any],
        envelope: Envelope,
        result: Contract,
        started: float,
        delivery: Delivery,
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
        check_allowed(agent, decision)
        if isinstance(decision, Escalate):
            return await self._escalate(envelope, results, decision.reason, started)
        if isinstance(decision, Respond):
            return self._respond(envelope, decision, started)
        if isinstance(decision, FanOut):
            # The join's merge continues the event's trace from the entry that fanned out.
            incoming = (delivery.fields or {}).get(b"traceparent")
            if incoming:
                envelope = envelope.model_copy(update={"traceparent": incoming.decode()})
            return self._fan_out(agent, envelope, results, decision, started)
        return self._forward(envelope, results, decision, started)

    def _fan_out(
        self,
        agent: AgentSpec[Any],
        envelope: Envelope,
        results: dict[str, Any],
        decision: FanOut,
        started: float,
    ) -> Outcome:
        spec = self.pipeline.join(decision.join)
        publishes, op, join = joins.fan_out(
            self.keys, spec, envelope, results, decision, self.settings.run_retention_s
        )
        step_decision = {
            "verdict": "accepted", "checked": agent.name, "route": spec.branch,
            "join": spec.name, "join_id": join, "branches": len(publishes),
        }  # fmt: skip
        outcome = self._outcome(envelope, started, "fanned_out", step_decision, publishes)
        return evolve(outcome, ops=(op,))

    def _arrive(self, envelope: Envelope, started: float) -> Outcome:
        """A branch's valid output: recorded in its join (the last one in closes it)."""
        assert envelope.join is not None
        assert envelope.branch is not None
        op = arrive_op(self.keys, envelope.join, envelope.branch, compact_json(envelope.payload))
        decision = {"verdict": "accepted", "checked": envelope.stage, "route": "join"}
        return evolve(self._outcome(envelope, started, "branch_done", decision, []), ops=(op,))

    def _fail_branch(
        self, envelope: Envelope, reason: str, started: float, verdict: str
    ) -> Outcome:
        """A branch that cannot finish: recorded in its join as failed, for ``reason``."""
        assert envelope.join is not None
        assert envelope.branch is not None
        op = fail_op(self.keys, envelope.join, envelope.branch, reason)
        decision = {"verdict": verdict, "checked": envelope.stage, "route": "join"}
        outcome = self._outcome(envelope, started, "branch_failed", decision, [], reason=reason)
        return evolve(outcome, ops=(op,))

    async def _merge(self, envelope: Envelope, join: str, started: float) -> Outcome:
        """A closed join: its ``merge`` (or, partial and so declared, a human) decides."""
        state = await load_join(self.ledger.redis, self.keys, join)
        if state is None:
            raise PermanentError(f"join {join} is gone (expired?)", reason="join_missing")
        spec = self.pipeline.join(joins.join_name(join))
        result = joins.join_result(spec, state)
        results = {**envelope.results, spec.name: result.summary()}
        if result.partial and spec.on_partial == "escalate":
            detail = joins.partial_detail(result)
            outcome = await self._escalate(envelope, results, JOIN_PARTIAL, started, detail)
        else:
            outcome = await self._route_merged(spec, envelope, results, result, started)
        step_decision = {**outcome.step.decision, **joins.join_decision(result, join)}
        return evolve(outcome, step=evolve(outcome.step, decision=step_decision))

    async def _route_merged(
        self,
        spec: JoinSpec,
        envelope: Envelope,
        results: dict[str, Any],
        result: JoinResult,
        started: float,
    ) -> Outcome:
        context = RouteContext(
            event_id=envelope.event_id,
            results=results,
            input=envelope.input or {},
            clarifications=envelope.clarifications,
            settings=self.settings,
        )
        try:
            decision = spec.merge(result, context)
        except (KeyError, ValidationError) as exc:
            raise ContractError(
                f"join {spec.name} cannot be merged: {exc!r}"[:300], event_id=envelope.event_id
            ) from exc
        check_allowed(spec, decision)
        if isinstance(decision, Escalate):
            return await self._escalate(envelope, results, decision.reason, started)
        if isinstance(decision, Respond):
            return self._respond(envelope, decision, started)
        assert isinstance(decision, Forward)  # check_allowed refuses a FanOut from a merge
        return self._forward(envelope, results, decision, started)

"""Joins in the declaration: what it refuses, what derives, and what the validator allows."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import orjson
import pytest
from redis.asyncio import Redis

from services.validator.settings import ValidatorSettings
from services.validator.stage import ValidatorStage
from shared.agents.guardrails import BudgetLedger
from shared.errors import ConfigError, ContractError
from shared.pipeline import ESCALATIONS, RESPONSES, AgentSpec, Pipeline
from shared.pipeline.contracts import Contract
from shared.pipeline.envelope import Envelope, Halt, branch_of
from shared.pipeline.join import JoinResult, JoinSpec
from shared.pipeline.routing import CheckContext, Decision, FanOut, Respond, RouteContext
from shared.runtime.delivery import Delivery


class Note(Contract):
    text: str


def no_problems(result: Note, ctx: CheckContext) -> list[str]:
    return []


def split(result: Note, ctx: RouteContext) -> Decision:
    return FanOut("parts", tuple(Note(text=w) for w in result.text.split()))


def respond(result: Note, ctx: RouteContext) -> Decision:
    return Respond(result)


def merge(result: JoinResult, ctx: RouteContext) -> Decision:
    return Respond(Note(text=" ".join(n.text for n in result.typed(Note) if n)))


PARTS = JoinSpec("parts", branch="worker", routes=(RESPONSES,), merge=merge, max_branches=3)


def pipeline(join: JoinSpec = PARTS, *, splitter_routes: tuple[str, ...] = ()) -> Pipeline:
    return Pipeline(
        agents=(
            AgentSpec(
                "splitter", Note, Note, routes=splitter_routes, check=no_problems, route=split,
                joins=(join,),
            ),
            AgentSpec("worker", Note, Note, routes=(RESPONSES,), check=no_problems, route=respond),
        )
    )  # fmt: skip


def test_a_join_makes_its_branch_agent_reachable_and_names_its_routes() -> None:
    declared = pipeline()
    assert declared.joins == (PARTS,)
    assert declared.join("parts") is PARTS
    assert declared.publishes("validator") == ("splitter", "worker", "responses", "escalations")


@pytest.mark.parametrize(
    ("join", "message"),
    [
        (replace(PARTS, branch="nobody"), "branches run unknown agent 'nobody'"),
        (replace(PARTS, branch=RESPONSES), "branches run unknown agent 'responses'"),
        (replace(PARTS, routes=()), "merged input goes nowhere"),
        (replace(PARTS, routes=("nowhere",)), "routes to unknown 'nowhere'"),
        (replace(PARTS, max_branches=0), "max_branches must be 1 to 32"),
        (replace(PARTS, max_branches=33), "max_branches must be 1 to 32"),
        (replace(PARTS, deadline_s=0), "deadline_s must be positive"),
        (replace(PARTS, on_partial="shrug"), "on_partial must be"),  # type: ignore[arg-type]
        (replace(PARTS, name="worker"), "a name of its own"),
        (replace(PARTS, name="Parts"), "a name of its own"),
    ],
    ids=[
        "unknown-branch", "terminal-branch", "no-route", "unknown-route", "no-branches",
        "too-many", "no-deadline", "bad-partial", "agent-name", "bad-name",
    ],
)  # fmt: skip
def test_a_join_that_cannot_work_is_refused_when_declared(join: JoinSpec, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        pipeline(join)


def test_a_join_declared_twice_is_refused() -> None:
    agents = pipeline().agents
    twice = replace(agents[1], joins=(PARTS,), route=split)
    with pytest.raises(ConfigError, match="a name of its own"):
        Pipeline(agents=(agents[0], twice))


def stage(declared: Pipeline) -> ValidatorStage:
    settings = ValidatorSettings(redis_url="redis://127.0.0.1:1/0", prefix="t")
    return ValidatorStage(settings, BudgetLedger(Redis(port=1), settings.keys, 60), declared)


def handoff(agent: str, text: str, **changes: Any) -> tuple[Envelope, Delivery]:
    now = time.time()
    envelope = Envelope(
        event_id="e-1", stage=agent, payload={"text": text}, input={"text": text},
        created_at=now, produced_at=now, hops=4, **changes,
    )  # fmt: skip
    return envelope, Delivery("t:handoffs", "1-0", envelope.to_fields())


async def test_a_fan_out_publishes_each_branch_and_opens_its_join_in_the_same_commit() -> None:
    outcome = await stage(pipeline()).handle(*handoff("splitter", "a b c"))
    assert outcome.step.outcome == "fanned_out"
    assert [p.stream for p in outcome.publishes] == ["t:worker"] * 3
    branches = [Envelope.from_fields(p.fields) for p in outcome.publishes]
    assert [(b.join, b.branch, b.branches, b.payload) for b in branches] == [
        ("e-1:parts:4", i, 3, {"text": t}) for i, t in enumerate("abc")
    ]
    assert [branch_of(p.fields) for p in outcome.publishes] == [
        ("e-1:parts:4", i) for i in range(3)
    ]
    # No ledger stamp: siblings spend on the event at once, so each call reserves.
    assert all(p.ledger is None for p in outcome.publishes)
    ((command, key, args),) = outcome.ops
    assert (command, key, args[0], args[2]) == (
        "JOIN_OPEN",
        "t:join:e-1:parts:4",
        "e-1:parts:4",
        "3",
    )
    parent = orjson.loads(args[5])
    assert parent["results"]["splitter"] == {"text": "a b c"}


async def test_a_fan_out_beyond_the_joins_limit_or_to_an_undeclared_join_is_refused() -> None:
    with pytest.raises(ContractError, match="takes 1 to 3 branches, not 4"):
        await stage(pipeline()).handle(*handoff("splitter", "a b c d"))
    undeclared = pipeline()
    worker = replace(undeclared.agents[1], route=split)
    refusing = Pipeline(agents=(undeclared.agents[0], worker))
    with pytest.raises(ContractError, match="worker may not fan out to join 'parts'"):
        await stage(refusing).handle(*handoff("worker", "a"))


async def test_a_branch_output_is_settled_in_its_join_not_routed() -> None:
    envelope, delivery = handoff("worker", "b", join="e-1:parts:4", branch=1, branches=3)
    outcome = await stage(pipeline()).handle(envelope, delivery)
    assert outcome.publishes == []
    assert outcome.step.branch == "e-1:parts:4|1"
    ((command, key, args),) = outcome.ops
    assert (command, key, args[:2]) == ("JOIN_ARRIVE", "t:join:e-1:parts:4", ["1", b'{"text":"b"}'])


async def test_a_halted_branch_fails_in_its_join_instead_of_ending_the_event() -> None:
    halt = Halt(reason="budget_exceeded", detail="x")
    halted, delivery = handoff("worker", "b", join="e-1:parts:4", branch=2, branches=3, halt=halt)
    outcome = await stage(pipeline()).handle(halted, delivery)
    assert outcome.status == "in_progress"
    assert outcome.publishes == []
    ((command, _, args),) = outcome.ops
    assert (command, args[:2]) == ("JOIN_FAIL", ["2", "budget_exceeded"])


def test_the_splitter_may_also_route_plainly() -> None:
    assert pipeline(splitter_routes=(ESCALATIONS,)).agent("splitter").routes == (ESCALATIONS,)

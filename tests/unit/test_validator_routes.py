"""The generic validator holds every routing rule to the routes its agent's declaration lists."""

from __future__ import annotations

import time

import pytest
from redis.asyncio import Redis

from services.validator.settings import ValidatorSettings
from services.validator.stage import ValidatorStage
from shared.agents.guardrails import BudgetLedger
from shared.errors import ContractError
from shared.pipeline import RESPONSES, AgentSpec, Pipeline
from shared.pipeline.contracts import Contract
from shared.pipeline.envelope import Envelope
from shared.pipeline.routing import CheckContext, Decision, Forward, RouteContext
from shared.runtime.delivery import Delivery


class Note(Contract):
    text: str


def no_problems(result: Note, ctx: CheckContext) -> list[str]:
    return []


def to_second(result: Note, ctx: RouteContext) -> Decision:
    return Forward("second", Note(text=result.text))


def to_first(result: Note, ctx: RouteContext) -> Decision:  # not among second's routes
    return Forward("first", Note(text=result.text))


PIPELINE = Pipeline(
    agents=(
        AgentSpec("first", Note, Note, routes=("second",), check=no_problems, route=to_second),
        AgentSpec("second", Note, Note, routes=(RESPONSES,), check=no_problems, route=to_first),
    )
)


@pytest.fixture
def stage() -> ValidatorStage:
    settings = ValidatorSettings(redis_url="redis://127.0.0.1:1/0", prefix="t")
    return ValidatorStage(settings, BudgetLedger(Redis(port=1), settings.keys, 60), PIPELINE)


def handoff(agent: str) -> tuple[Envelope, Delivery]:
    now = time.time()
    envelope = Envelope(
        event_id="e-1", stage=agent, payload={"text": "hi"}, input={"text": "hi"},
        created_at=now, produced_at=now,
    )  # fmt: skip
    return envelope, Delivery("t:handoffs", "1-0", envelope.to_fields())


async def test_a_declared_route_is_taken(stage: ValidatorStage) -> None:
    outcome = await stage.handle(*handoff("first"))
    assert [p.stream for p in outcome.publishes] == ["t:second"]


async def test_a_route_the_declaration_does_not_list_is_refused(stage: ValidatorStage) -> None:
    with pytest.raises(
        ContractError, match="second may not route to 'first'; its routes: responses"
    ):
        await stage.handle(*handoff("second"))

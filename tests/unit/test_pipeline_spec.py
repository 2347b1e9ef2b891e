"""The pipeline declaration: what it refuses, and what derives from it."""

from __future__ import annotations

import pytest

from services.pipeline import PIPELINE
from shared.errors import ConfigError
from shared.pipeline import ESCALATIONS, RESPONSES, AgentSpec, Pipeline
from shared.pipeline.contracts import Contract
from shared.pipeline.routing import CheckContext, Decision, Respond, RouteContext


class Ask(Contract):
    text: str


class Answer(Contract):
    text: str


def no_problems(result: Answer, ctx: CheckContext) -> list[str]:
    return []


def respond(result: Answer, ctx: RouteContext) -> Decision:
    return Respond(result)


def agent(name: str, *routes: str) -> AgentSpec[Answer]:
    return AgentSpec(name, Ask, Answer, routes=routes, check=no_problems, route=respond)


def test_reference_pipeline_derives_the_design_cards_streams_and_services() -> None:
    assert PIPELINE.services == ("intake", "triage", "responder", "validator")
    assert PIPELINE.entry_stream == "intake"
    assert [PIPELINE.input_stream(s) for s in PIPELINE.services] == [
        "intake", "triage", "responder", "handoffs",
    ]  # fmt: skip
    assert set(PIPELINE.streams()) == {
        "intake", "handoffs", "triage", "responder", "responses", "escalations", "dlq",
    }  # fmt: skip
    assert PIPELINE.publishes("triage") == ("handoffs",)
    assert PIPELINE.publishes("validator") == (
        "intake", "triage", "responder", "responses", "escalations",
    )  # fmt: skip
    assert PIPELINE.agent("triage").model_setting == "triage_model"
    assert PIPELINE.agent("responder").module == "services.responder"


def test_a_different_topology_derives_its_own_streams_and_routes() -> None:
    pipeline = Pipeline(
        agents=(
            agent("reader", "planner", ESCALATIONS),
            agent("planner", "writer"),
            agent("writer", RESPONSES),
        )
    )
    assert pipeline.services == ("reader", "planner", "writer", "validator")
    assert pipeline.entry_stream == "reader"
    assert pipeline.publishes("validator") == (
        "reader", "planner", "writer", "responses", "escalations",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("agents", "message"),
    [
        ((), "at least one agent"),
        ((agent("reader", RESPONSES), agent("reader", RESPONSES)), "declared twice"),
        ((agent("reader", "nobody"),), "routes to unknown 'nobody'"),
        ((agent("reader"),), "has no route"),
        ((agent("handoffs", RESPONSES),), "agent name 'handoffs'"),
        ((agent("Reader", RESPONSES),), "agent name 'Reader'"),
        ((agent("reader", RESPONSES), agent("orphan", RESPONSES)), "no route leads to orphan"),
        ((agent("reader", "writer"), agent("writer", "reader")), "no event could end"),
    ],
    ids=[
        "empty",
        "twice",
        "unknown-route",
        "no-route",
        "reserved",
        "bad-name",
        "unreachable",
        "no-end",
    ],
)
def test_a_declaration_that_cannot_work_is_refused_with_a_clear_error(
    agents: tuple[AgentSpec[Answer], ...], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        Pipeline(agents=agents)


def test_unknown_names_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="unknown service 'billing'"):
        PIPELINE.input_stream("billing")
    with pytest.raises(ConfigError, match="unknown agent 'validator'"):
        PIPELINE.agent("validator")

"""The reference agents' routing rules (services/<agent>/routing.py): every branch."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from services.intake import routing as intake_routing
from services.triage import routing as triage_routing
from services.validator.settings import ValidatorSettings
from shared.pipeline.contracts import (
    IntakeResult,
    PiiCounts,
    ResponderRequest,
    TriageRequest,
    TriageResult,
)
from shared.pipeline.routing import Decision, Escalate, Forward, RouteContext


@pytest.fixture
def settings() -> ValidatorSettings:
    return ValidatorSettings()


def intake_result(injection_risk: float) -> IntakeResult:
    return IntakeResult(
        text="My invoice is wrong",
        language="en",
        channel="email",
        pii=PiiCounts(),
        injection_risk=injection_risk,
        summary="My invoice is wrong",
    )


def triage_result(**changes: Any) -> TriageResult:
    values: dict[str, Any] = {
        "category": "billing",
        "priority": "normal",
        "confidence": 0.8,
        "route": "respond",
        "summary": "My invoice is wrong",
    }
    return TriageResult(**{**values, **changes})


@dataclass(frozen=True)
class Route:
    """What a decision amounts to: where the event goes, why, and in which responder mode."""

    target: str
    reason: str | None = None
    mode: str = "answer"


def outcome(decision: Decision) -> Route:
    if isinstance(decision, Escalate):
        return Route("escalations", decision.reason)
    if isinstance(decision, Forward):
        return Route(decision.target, mode=getattr(decision.payload, "mode", "answer"))
    return Route("responses")


def context(settings: ValidatorSettings, clarifications: int = 0) -> RouteContext:
    results = {"intake": intake_result(0.0).model_dump(mode="json")}
    return RouteContext("e-1", results, {}, clarifications, settings)


def route_intake(result: IntakeResult, settings: ValidatorSettings) -> Route:
    return outcome(intake_routing.route(result, context(settings)))


def route_triage(
    result: TriageResult, settings: ValidatorSettings, clarifications: int = 0
) -> Route:
    return outcome(triage_routing.route(result, context(settings, clarifications)))


def test_forwards_carry_the_next_agents_typed_input(settings: ValidatorSettings) -> None:
    to_triage = intake_routing.route(intake_result(0.1), context(settings))
    assert isinstance(to_triage, Forward)
    assert isinstance(to_triage.payload, TriageRequest)
    assert (to_triage.payload.text, to_triage.payload.injection_risk) == (
        "My invoice is wrong",
        0.1,
    )
    to_responder = triage_routing.route(triage_result(), context(settings))
    assert isinstance(to_responder, Forward)
    assert to_responder.payload == ResponderRequest(
        text="My invoice is wrong", language="en", category="billing", priority="normal",
        mode="answer", summary="My invoice is wrong",
    )  # fmt: skip


def test_defaults_are_the_documented_thresholds(settings: ValidatorSettings) -> None:
    assert settings.validator_injection_threshold == 0.8
    assert settings.confidence_threshold == 0.6
    assert settings.sensitive_categories == ("legal", "emergency", "complaint")


@pytest.mark.parametrize("risk", [0.0, 0.45, 0.79])
def test_intake_output_below_the_injection_threshold_goes_to_triage(
    settings: ValidatorSettings, risk: float
) -> None:
    assert route_intake(intake_result(risk), settings) == Route("triage")


@pytest.mark.parametrize("risk", [0.8, 0.9, 1.0])
def test_intake_output_at_or_over_the_injection_threshold_is_escalated(
    settings: ValidatorSettings, risk: float
) -> None:
    assert route_intake(intake_result(risk), settings) == Route(
        "escalations", "prompt_injection_suspected"
    )


def test_injection_threshold_is_a_setting() -> None:
    strict = ValidatorSettings(validator_injection_threshold=0.4)
    assert route_intake(intake_result(0.45), strict).target == "escalations"


@pytest.mark.parametrize("category", ["legal", "emergency", "complaint"])
def test_sensitive_categories_are_escalated_whatever_the_model_chose(
    settings: ValidatorSettings, category: str
) -> None:
    result = triage_result(category=category, route="respond", confidence=0.95)
    assert route_triage(result, settings) == Route("escalations", "sensitive_topic")


def test_sensitive_categories_are_a_setting() -> None:
    settings = ValidatorSettings(sensitive_categories=("refund",))
    assert route_triage(triage_result(category="refund"), settings).reason == "sensitive_topic"
    assert route_triage(triage_result(category="legal"), settings) == Route("responder")


def test_explicit_request_for_a_human_is_escalated(settings: ValidatorSettings) -> None:
    result = triage_result(human_requested=True, route="respond", confidence=0.95)
    assert route_triage(result, settings) == Route("escalations", "human_requested")


def test_agent_choosing_to_escalate_is_escalated(settings: ValidatorSettings) -> None:
    assert route_triage(triage_result(route="escalate"), settings) == Route(
        "escalations", "agent_escalated"
    )


def test_clarify_goes_to_the_responder_in_clarify_mode(settings: ValidatorSettings) -> None:
    result = triage_result(category="general", route="clarify", confidence=0.3)
    assert route_triage(result, settings) == Route("responder", mode="clarify")


@pytest.mark.parametrize("confidence", [0.0, 0.3, 0.59])
def test_low_confidence_is_escalated_even_when_the_model_says_respond(
    settings: ValidatorSettings, confidence: float
) -> None:
    result = triage_result(route="respond", confidence=confidence)
    assert route_triage(result, settings) == Route("escalations", "low_confidence")


@pytest.mark.parametrize("confidence", [0.6, 0.61, 1.0])
def test_confident_respond_goes_to_the_responder_in_answer_mode(
    settings: ValidatorSettings, confidence: float
) -> None:
    result = triage_result(route="respond", confidence=confidence)
    assert route_triage(result, settings) == Route("responder", mode="answer")


def test_sensitive_topic_wins_over_a_human_request(settings: ValidatorSettings) -> None:
    result = triage_result(category="legal", human_requested=True)
    assert route_triage(result, settings).reason == "sensitive_topic"


def test_human_request_wins_over_clarify(settings: ValidatorSettings) -> None:
    result = triage_result(human_requested=True, route="clarify")
    assert route_triage(result, settings).reason == "human_requested"


def test_repeated_clarification_goes_to_a_human(settings: ValidatorSettings) -> None:
    result = triage_result(category="general", route="clarify", confidence=0.3)
    assert route_triage(result, settings, clarifications=1) == Route("responder", mode="clarify")
    assert route_triage(result, settings, clarifications=2) == Route(
        "escalations", "repeated_clarification"
    )


def test_escalation_reasons_of_the_model_come_before_repeated_clarification(
    settings: ValidatorSettings,
) -> None:
    result = triage_result(human_requested=True)
    assert route_triage(result, settings, clarifications=5).reason == "human_requested"

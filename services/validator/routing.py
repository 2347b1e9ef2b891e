"""Routing rules: where a validated agent output goes next. Pure functions of the output."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from services.validator.settings import ValidatorSettings
from shared.contracts import IntakeResult, TriageResult
from shared.contracts.responder import Mode

Target = Literal["triage", "responder", "responses", "escalations"]


@dataclass(frozen=True)
class Route:
    target: Target
    reason: str | None = None
    mode: Mode = "answer"


def route_intake(result: IntakeResult, settings: ValidatorSettings) -> Route:
    if result.injection_risk >= settings.validator_injection_threshold:
        return Route("escalations", "prompt_injection_suspected")
    return Route("triage")


def route_triage(
    result: TriageResult, settings: ValidatorSettings, clarifications: int = 0
) -> Route:
    """Escalation rules are enforced here too, whatever route the model chose."""
    if result.category in settings.sensitive_categories:
        return Route("escalations", "sensitive_topic")
    if result.human_requested:
        return Route("escalations", "human_requested")
    if result.route == "escalate":
        # Say why when the model's confidence explains it: operators sort by reason.
        low = result.confidence < settings.confidence_threshold
        return Route("escalations", "low_confidence" if low else "agent_escalated")
    if clarifications >= settings.validator_repeated_clarifications:
        return Route("escalations", "repeated_clarification")
    if result.route == "clarify":
        return Route("responder", mode="clarify")
    if result.confidence < settings.confidence_threshold:
        return Route("escalations", "low_confidence")
    return Route("responder", mode="answer")

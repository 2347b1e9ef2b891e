"""Where intake's validated output goes: triage, or a human when it smells of injection."""

from __future__ import annotations

from services.validator.settings import ValidatorSettings
from shared.pipeline.contracts import IntakeResult, TriageRequest
from shared.pipeline.routing import Decision, Escalate, Forward, RouteContext


def route(result: IntakeResult, ctx: RouteContext) -> Decision:
    settings = ctx.settings
    assert isinstance(settings, ValidatorSettings)
    if result.injection_risk >= settings.validator_injection_threshold:
        return Escalate("prompt_injection_suspected")
    request = TriageRequest(
        text=result.text,
        language=result.language,
        channel=result.channel,
        injection_risk=result.injection_risk,
        summary=result.summary,
        key_facts=result.key_facts,
    )
    return Forward("triage", request)

"""Where triage's validated output goes. Escalation rules are enforced here, whatever route the
model chose."""

from __future__ import annotations

from services.validator.settings import ValidatorSettings
from shared.pipeline.contracts import ResponderRequest, TriageResult
from shared.pipeline.contracts.responder import Mode
from shared.pipeline.routing import Decision, Escalate, Forward, RouteContext


def route(result: TriageResult, ctx: RouteContext) -> Decision:
    settings = ctx.settings
    assert isinstance(settings, ValidatorSettings)
    if result.category in settings.sensitive_categories:
        return Escalate("sensitive_topic")
    if result.human_requested:
        return Escalate("human_requested")
    if result.route == "escalate":
        # Say why when the model's confidence explains it: operators sort by reason.
        low = result.confidence < settings.confidence_threshold
        return Escalate("low_confidence" if low else "agent_escalated")
    if ctx.clarifications >= settings.validator_repeated_clarifications:
        return Escalate("repeated_clarification")
    if result.route == "clarify":
        return _to_responder(result, ctx, "clarify")
    if result.confidence < settings.confidence_threshold:
        return Escalate("low_confidence")
    return _to_responder(result, ctx, "answer")


def _to_responder(result: TriageResult, ctx: RouteContext, mode: Mode) -> Forward:
    intake = ctx.results["intake"]
    request = ResponderRequest(
        text=intake["text"],
        language=intake["language"],
        category=result.category,
        priority=result.priority,
        mode=mode,
        summary=result.summary,
        key_facts=result.key_facts,
    )
    return Forward("responder", request)

"""Where triage's validated output goes. Escalation rules are enforced here, whatever route the
model chose."""

from __future__ import annotations

from services.validator.settings import ValidatorSettings
from shared.pipeline.contracts import Issue, ResponderRequest, ReviewRequest, TriageResult
from shared.pipeline.contracts.responder import Mode
from shared.pipeline.routing import Decision, Escalate, FanOut, Forward, RouteContext

ISSUES = "issues"
"""The join of a message's several issues (declared in services.pipeline)."""
PANEL = "panel"
"""The review panel of a sensitive or borderline decision (declared in services.pipeline)."""


def route(result: TriageResult, ctx: RouteContext) -> Decision:
    settings = ctx.settings
    assert isinstance(settings, ValidatorSettings)
    panel = settings.validator_panel_size
    if result.category in settings.sensitive_categories:
        # High stakes: independent reviewers confirm (or, unanimous, overturn) the category.
        return _panel(ctx, panel) if panel else Escalate("sensitive_topic")
    if result.human_requested:
        return Escalate("human_requested")
    borderline = abs(result.confidence - settings.confidence_threshold) < (
        settings.validator_panel_margin
    )
    if panel and borderline and result.route != "clarify" and not result.issues:
        return _panel(ctx, panel)
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
    if len(result.issues) > 1:
        if any(issue.category in settings.sensitive_categories for issue in result.issues):
            return Escalate("sensitive_topic")
        # Several requests in one message: each answered in parallel, then composed (the
        # join "issues"; see services.composer.merge).
        return FanOut(ISSUES, tuple(_issue_request(result, issue, ctx) for issue in result.issues))
    return _to_responder(result, ctx, "answer")


def _panel(ctx: RouteContext, size: int) -> FanOut:
    """The review panel (the join "panel"): ``size`` reviewers read the request independently."""
    intake = ctx.results["intake"]
    return FanOut(PANEL, tuple(
        ReviewRequest(text=intake["text"], language=intake["language"],
                      summary=intake["summary"], panelist=n)
        for n in range(size)
    ))  # fmt: skip


def _issue_request(result: TriageResult, issue: Issue, ctx: RouteContext) -> ResponderRequest:
    intake = ctx.results["intake"]
    return ResponderRequest(
        text=intake["text"],
        language=intake["language"],
        category=issue.category,
        priority=result.priority,
        mode="answer",
        summary=issue.summary,
        key_facts=result.key_facts,
    )


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

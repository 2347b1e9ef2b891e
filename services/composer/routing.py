"""Where the composed reply goes (to the customer), and how the join ``issues`` becomes the
composer's input: every issue's draft in the order triage listed them."""

from __future__ import annotations

from shared.pipeline.contracts import (
    ComposerRequest,
    ComposerResult,
    Draft,
    FinalResponse,
    ResponderResult,
)
from shared.pipeline.join import JOIN_PARTIAL, JoinResult
from shared.pipeline.routing import Decision, Escalate, Forward, Respond, RouteContext


def merge(result: JoinResult, ctx: RouteContext) -> Decision:
    """The drafts (a partial join: those that came back, and which issues did not)."""
    triage, intake = ctx.results["triage"], ctx.results["intake"]
    issues = triage["issues"]
    drafts, missing = [], []
    for issue, draft in zip(issues, result.typed(ResponderResult), strict=True):
        if draft is None:
            missing.append(issue["summary"])
        else:
            drafts.append(Draft(category=issue["category"], summary=issue["summary"],
                                reply=draft.reply))  # fmt: skip
    if not drafts:
        return Escalate(JOIN_PARTIAL)
    request = ComposerRequest(
        language=intake["language"],
        priority=triage["priority"],
        summary=triage["summary"],
        drafts=drafts,
        missing=missing,
    )
    return Forward("composer", request)


def route(result: ComposerResult, ctx: RouteContext) -> Decision:
    triage = ctx.results["triage"]
    return Respond(
        FinalResponse(
            event_id=ctx.event_id,
            reply=result.reply,
            language=result.language,
            category=triage["category"],
            priority=triage["priority"],
            mode="answer",
            summary=triage["summary"],
        )
    )

"""Where the responder's validated reply goes: to the customer, as the final response."""

from __future__ import annotations

from shared.pipeline.contracts import FinalResponse, ResponderResult
from shared.pipeline.routing import Decision, Respond, RouteContext


def route(result: ResponderResult, ctx: RouteContext) -> Decision:
    request = ctx.input  # the ResponderRequest it was given: triage's decision
    return Respond(
        FinalResponse(
            event_id=ctx.event_id,
            reply=result.reply,
            language=result.language,
            category=request.get("category", "general"),
            priority=request.get("priority", "normal"),
            mode=request.get("mode", "answer"),
            summary=request.get("summary", ""),
        )
    )

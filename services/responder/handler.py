"""The responder: draft the reply for the category (or ask for details)."""

from __future__ import annotations

from services.responder import prompts, rules
from services.responder.settings import ResponderSettings
from shared.agents.agent import AgentContext
from shared.agents.llm import LLMRequest
from shared.agents.prompting import untrusted
from shared.pipeline.contracts import ResponderRequest, ResponderResult


async def handle(
    request: ResponderRequest, ctx: AgentContext[ResponderSettings]
) -> ResponderResult:
    settings = ctx.settings
    # The summary was written by a model that read the untrusted text: it is untrusted too.
    notice, ticket = untrusted(prompts.DATA.format(summary=request.summary, text=request.text))
    user = prompts.RESPONDER_USER.format(
        mode=request.mode,
        category=request.category,
        priority=request.priority,
        language=request.language,
        ticket=ticket,
    )
    if ctx.feedback:
        user += "\n\n" + prompts.FEEDBACK.format(feedback="\n".join(ctx.feedback))
    result = await ctx.llm.generate(
        LLMRequest(
            agent="responder",
            model=settings.responder_model,
            system=prompts.RESPONDER_SYSTEM.format(
                category=request.category, priority=request.priority, untrusted_notice=notice
            ),
            user=user,
            schema=ResponderResult,
            offline=lambda: rules.draft(request),
            max_tokens=settings.responder_max_tokens,
            temperature=settings.responder_temperature,
        )
    )
    return result.value

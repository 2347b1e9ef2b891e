"""A panelist: classify the request independently, with its own model, stance or rule set."""

from __future__ import annotations

from services.reviewer import prompts, rules
from services.reviewer.settings import ReviewerSettings
from shared.agents.agent import AgentContext
from shared.agents.llm import LLMRequest
from shared.agents.prompting import untrusted
from shared.pipeline.contracts import CATEGORIES, Opinion, ReviewRequest


async def handle(request: ReviewRequest, ctx: AgentContext[ReviewerSettings]) -> Opinion:
    settings = ctx.settings
    notice, ticket = untrusted(prompts.DATA.format(summary=request.summary, text=request.text))
    stance = prompts.STANCES[request.panelist % len(prompts.STANCES)]
    result = await ctx.llm.generate(
        LLMRequest(
            agent="reviewer",
            model=settings.model_for(request.panelist),
            system=prompts.REVIEWER_SYSTEM.format(
                categories=", ".join(CATEGORIES), stance=stance, untrusted_notice=notice
            ),
            user=prompts.REVIEWER_USER.format(language=request.language, ticket=ticket),
            schema=Opinion,
            offline=lambda: rules.review(request, settings.sensitive_categories),
            max_tokens=settings.reviewer_max_tokens,
        )
    )
    return result.value

"""The composer: one reply answering each of a message's requests, from their drafts."""

from __future__ import annotations

from services.composer import prompts, rules
from services.composer.settings import ComposerSettings
from shared.agents.agent import AgentContext
from shared.agents.llm import LLMRequest
from shared.agents.prompting import untrusted
from shared.pipeline.contracts import ComposerRequest, ComposerResult


async def handle(request: ComposerRequest, ctx: AgentContext[ComposerSettings]) -> ComposerResult:
    settings = ctx.settings
    drafts = [
        prompts.DRAFT.format(n=n, category=d.category, summary=d.summary, reply=d.reply)
        for n, d in enumerate(request.drafts, 1)
    ]
    drafts += [prompts.MISSING.format(summary=summary) for summary in request.missing]
    # The drafts were written by models that read the untrusted text: they are untrusted too.
    notice, data = untrusted("\n\n".join(drafts))
    user = prompts.COMPOSER_USER.format(
        language=request.language, priority=request.priority, drafts=data
    )
    if ctx.feedback:
        user += "\n\n" + prompts.FEEDBACK.format(feedback="\n".join(ctx.feedback))
    result = await ctx.llm.generate(
        LLMRequest(
            agent="composer",
            model=settings.composer_model,
            system=prompts.COMPOSER_SYSTEM.format(untrusted_notice=notice),
            user=user,
            schema=ComposerResult,
            offline=lambda: rules.compose(request),
            max_tokens=settings.composer_max_tokens,
            temperature=settings.composer_temperature,
        )
    )
    return result.value

"""Triage: classify, prioritise and route on confidence."""

from __future__ import annotations

from services.triage import prompts, rules, safety
from services.triage.settings import TriageSettings
from shared.agents.agent import AgentContext
from shared.agents.llm import LLMRequest
from shared.agents.prompting import untrusted
from shared.pipeline.contracts import CATEGORIES, TriageRequest, TriageResult


async def handle(request: TriageRequest, ctx: AgentContext[TriageSettings]) -> TriageResult:
    settings = ctx.settings
    # The summary was written by a model that read the untrusted text: it is untrusted too.
    notice, ticket = untrusted(prompts.DATA.format(summary=request.summary, text=request.text))
    user = prompts.TRIAGE_USER.format(
        language=request.language, channel=request.channel, ticket=ticket
    )
    if ctx.feedback:
        user += "\n\n" + prompts.FEEDBACK.format(feedback="\n".join(ctx.feedback))
    result = await ctx.llm.generate(
        LLMRequest(
            agent="triage",
            model=settings.triage_model,
            system=prompts.TRIAGE_SYSTEM.format(
                categories=", ".join(CATEGORIES), untrusted_notice=notice
            ),
            user=user,
            schema=TriageResult,
            offline=lambda: rules.classify(
                request, settings.confidence_threshold, settings.sensitive_categories
            ),
            max_tokens=settings.triage_max_tokens,
        )
    )
    # The model may miss an emergency or a request for a person: the rules read the text too,
    # and what they find can only make the result more cautious (see services.triage.safety).
    found = safety.signals(request, settings.sensitive_categories)
    return safety.combine(result.value, found, settings.sensitive_categories)

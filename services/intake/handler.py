"""Intake: normalise, redact PII, then screen for language and prompt injection."""

from __future__ import annotations

from services.intake import prompts, rules
from services.intake.screening import Screening
from services.intake.settings import IntakeSettings
from shared.agents.agent import AgentContext
from shared.agents.llm import LLMRequest
from shared.agents.prompting import untrusted
from shared.agents.redaction import redact
from shared.pipeline.contracts import CustomerRequest, IntakeResult, PiiCounts


async def handle(request: CustomerRequest, ctx: AgentContext[IntakeSettings]) -> IntakeResult:
    """Redaction happens in code, before any model sees the text."""
    text = rules.normalise(request.text)
    if request.subject:
        text = f"{rules.normalise(request.subject)}\n{text}"
    redacted = redact(text)
    # The model reads the very text that may be attacking it, so it cannot be the only judge:
    # the deterministic screen runs too (see rules.combined_risk).
    rule_risk, rule_signals = rules.screen_injection(redacted.text)
    notice, ticket = untrusted(redacted.text)
    user = prompts.SCREEN_USER.format(ticket=ticket)
    if ctx.feedback:
        user += "\n\n" + prompts.FEEDBACK.format(feedback="\n".join(ctx.feedback))
    screening = await ctx.llm.generate(
        LLMRequest(
            agent="intake",
            model=ctx.settings.intake_model,
            system=prompts.SCREEN_SYSTEM.format(untrusted_notice=notice),
            user=user,
            schema=Screening,
            offline=lambda: rules.screen(redacted.text, (rule_risk, rule_signals)),
            max_tokens=ctx.settings.intake_max_tokens,
        )
    )
    found = screening.value
    signals = list(dict.fromkeys([*found.injection_signals, *rule_signals]))[:10]
    return IntakeResult(
        text=redacted.text,
        language=found.language,
        customer_id=request.customer_id,
        channel=request.channel,
        pii=PiiCounts(email=redacted.email, phone=redacted.phone, card=redacted.card),
        injection_risk=rules.combined_risk(
            found.injection_risk, rule_risk, ctx.settings.intake_model_risk_alone
        ),
        injection_signals=signals,
        summary=redact(found.summary).text,
        key_facts=[redact(f).text for f in found.key_facts],
    )

"""The responder's domain checks: a reply goes to a customer, so it must leak nothing."""

from __future__ import annotations

from shared.agents.redaction import contains_pii
from shared.pipeline.contracts import ResponderResult
from shared.pipeline.routing import CheckContext


def check(result: ResponderResult, ctx: CheckContext) -> list[str]:
    """Problems with a reply (the responder's, or an operator's); empty when it may be sent."""
    problems = []
    if contains_pii(result.reply):
        problems.append("reply: contains personal data (email, phone or card number)")
    if ctx.leaks_instructions(result.reply):
        problems.append("reply: reveals internal instructions")
    return problems

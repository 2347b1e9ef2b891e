"""The composer's domain checks: its reply goes to a customer, like the responder's."""

from __future__ import annotations

from shared.agents.redaction import contains_pii
from shared.pipeline.contracts import ComposerResult
from shared.pipeline.routing import CheckContext


def check(result: ComposerResult, ctx: CheckContext) -> list[str]:
    problems = []
    if contains_pii(result.reply):
        problems.append("reply: contains personal data (email, phone or card number)")
    if ctx.leaks_instructions(result.reply):
        problems.append("reply: reveals internal instructions")
    return problems

"""Intake's domain checks: what its contract cannot say."""

from __future__ import annotations

from shared.agents.redaction import contains_pii
from shared.pipeline.contracts import IntakeResult
from shared.pipeline.routing import CheckContext


def check(result: IntakeResult, ctx: CheckContext) -> list[str]:
    """Problems with intake's output; empty when it may go on."""
    problems = []
    if contains_pii(result.text) or contains_pii(result.summary):
        problems.append("text: personal data (email, phone or card number) was not redacted")
    return problems

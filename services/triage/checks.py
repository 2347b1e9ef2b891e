"""Triage's domain checks: what its contract cannot say."""

from __future__ import annotations

from shared.agents.redaction import contains_pii
from shared.pipeline.contracts import TriageResult
from shared.pipeline.routing import CheckContext


def check(result: TriageResult, ctx: CheckContext) -> list[str]:
    """Problems with triage's output; empty when it may go on."""
    problems = []
    if contains_pii(result.summary) or any(contains_pii(f) for f in result.key_facts):
        problems.append("summary: contains personal data")
    if result.route == "respond" and result.category == "general" and result.priority == "urgent":
        problems.append("priority: urgent needs a specific category")
    return problems

"""The reviewer's domain checks: an opinion's rationale is shown to operators, so no PII."""

from __future__ import annotations

from shared.agents.redaction import contains_pii
from shared.pipeline.contracts import Opinion
from shared.pipeline.routing import CheckContext


def check(result: Opinion, ctx: CheckContext) -> list[str]:
    if contains_pii(result.rationale):
        return ["rationale: contains personal data"]
    return []

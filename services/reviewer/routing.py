"""The review panel's verdict (the join ``panel``): an agreement score over the panelists'
opinions; agreement goes on with the majority, disagreement goes to a human with every opinion
(the escalation packet shows them, see services.packet). A sensitive triage decision is
overturned only by a unanimous panel."""

from __future__ import annotations

from collections import Counter

from services.validator.settings import ValidatorSettings
from shared.pipeline.contracts import Opinion, ResponderRequest
from shared.pipeline.contracts.triage import Category
from shared.pipeline.join import JoinResult
from shared.pipeline.routing import Decision, Escalate, Forward, RouteContext


def agreement(opinions: list[Opinion]) -> tuple[Category, bool, float]:
    """The majority verdict (category, escalate) and the share of panelists who gave it."""
    votes = Counter((o.category, o.escalate) for o in opinions)
    (category, escalate), count = votes.most_common(1)[0]
    return category, escalate, round(count / len(opinions), 4)


def merge(result: JoinResult, ctx: RouteContext) -> Decision:
    settings = ctx.settings
    assert isinstance(settings, ValidatorSettings)
    opinions = [o for o in result.typed(Opinion) if o is not None]
    category, escalate, share = agreement(opinions)
    triage = ctx.results["triage"]
    sensitive = triage["category"] in settings.sensitive_categories
    # Overturning a sensitive decision (a specialist's case) takes every panelist.
    needed = (
        1.0
        if sensitive and category not in settings.sensitive_categories
        else (settings.validator_panel_agreement)
    )
    if share < needed:
        # Torn panelists are no more sure than triage was: a human decides, with every opinion.
        return Escalate("sensitive_topic" if sensitive else "low_confidence")
    if escalate or category in settings.sensitive_categories:
        return Escalate("sensitive_topic" if category in settings.sensitive_categories
                        else "low_confidence")  # fmt: skip
    intake = ctx.results["intake"]
    request = ResponderRequest(
        text=intake["text"],
        language=intake["language"],
        category=category,
        priority=triage["priority"],
        mode="answer",
        summary=triage["summary"],
        key_facts=triage.get("key_facts", []),
    )
    return Forward("responder", request)


def route(result: Opinion, ctx: RouteContext) -> Decision:
    """A reviewer runs only as a panelist: its opinions go to the panel's join, never here."""
    return Escalate("agent_escalated")

"""Contracts at the triage boundary."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from shared.pipeline.contracts.base import (
    Channel,
    Contract,
    KeyFacts,
    Language,
    Reasons,
    Score,
    Summary,
    TicketText,
)

Category = Literal[
    "billing",
    "technical",
    "account",
    "shipping",
    "refund",
    "general",
    "legal",
    "emergency",
    "complaint",
]
CATEGORIES: tuple[Category, ...] = (
    "billing",
    "technical",
    "account",
    "shipping",
    "refund",
    "general",
    "legal",
    "emergency",
    "complaint",
)
Priority = Literal["low", "normal", "high", "urgent"]
Route = Literal["respond", "escalate", "clarify"]


class TriageRequest(Contract):
    """What the validator hands triage: intake's redacted view of the request."""

    text: TicketText
    language: Language
    channel: Channel
    injection_risk: Score
    summary: Summary
    key_facts: KeyFacts = []
    issues: Annotated[list[Issue], Field(max_length=MAX_ISSUES)] = []


MAX_ISSUES = 5


class Issue(Contract):
    """One distinct request inside a message that makes several."""

    category: Category
    summary: Summary


class TriageResult(Contract):
    """Triage's decision. ``route`` can only take these enum values, whatever the text says.

    ``issues``: when the message makes several distinct requests (2 to 5), one entry each; each
    is answered in parallel and the answers composed into one reply. Empty for a single request.
    """

    category: Category
    priority: Priority
    confidence: Score
    route: Route
    human_requested: bool = False
    reasons: Reasons = []
    summary: Summary
    key_facts: KeyFacts = []
    issues: Annotated[list[Issue], Field(max_length=MAX_ISSUES)] = []

"""Contracts at the triage boundary."""

from __future__ import annotations

from typing import Literal

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


class TriageResult(Contract):
    """Triage's decision. ``route`` can only take these enum values, whatever the text says."""

    category: Category
    priority: Priority
    confidence: Score
    route: Route
    human_requested: bool = False
    reasons: Reasons = []
    summary: Summary
    key_facts: KeyFacts = []

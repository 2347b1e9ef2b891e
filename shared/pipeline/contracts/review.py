"""Contracts at the reviewer boundary: one panelist's independent reading of a request."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from shared.pipeline.contracts.base import Contract, Language, Reason, Score, Summary, TicketText
from shared.pipeline.contracts.triage import Category

MAX_PANELISTS = 5


class ReviewRequest(Contract):
    """What a panelist reviews: the redacted request, and which panelist it is (each has its own
    model, prompt or, offline, rule set)."""

    text: TicketText
    language: Language
    summary: Summary
    panelist: Annotated[int, Field(ge=0, lt=MAX_PANELISTS)]


class Opinion(Contract):
    """A panelist's classification: the category, how sure, and whether a human should take it."""

    category: Category
    confidence: Score
    escalate: bool
    rationale: Reason

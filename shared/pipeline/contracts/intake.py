"""Contracts at the intake boundary: what producers post, and what intake hands on."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from shared.pipeline.contracts.base import (
    Channel,
    Contract,
    CustomerId,
    EventId,
    KeyFacts,
    Language,
    Reasons,
    Score,
    Summary,
    TicketText,
)


class CustomerRequest(Contract):
    """The JSON a producer puts in the ``payload`` field of an ``intake`` stream entry.

    ``event_id`` is the idempotency key: posting the same id twice yields one response.
    """

    text: TicketText
    customer_id: CustomerId | None = None
    channel: Channel = "api"
    event_id: EventId | None = None
    subject: Annotated[str, Field(max_length=300)] | None = None
    budget_tokens: Annotated[int, Field(ge=1, le=10_000_000)] | None = None
    budget_usd: Annotated[float, Field(ge=0, le=1000)] | None = None


class PiiCounts(Contract):
    """How many items of each kind intake redacted."""

    email: Annotated[int, Field(ge=0, le=10_000)] = 0
    phone: Annotated[int, Field(ge=0, le=10_000)] = 0
    card: Annotated[int, Field(ge=0, le=10_000)] = 0


class IntakeResult(Contract):
    """Intake's output: normalised, redacted text plus what it learned about the request."""

    text: TicketText
    language: Language
    customer_id: CustomerId | None = None
    channel: Channel
    pii: PiiCounts
    injection_risk: Score
    injection_signals: Reasons = []
    summary: Summary
    key_facts: KeyFacts = []

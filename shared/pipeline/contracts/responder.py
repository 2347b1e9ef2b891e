"""Contracts at the responder boundary, and the final response users consume."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from shared.pipeline.contracts.base import (
    Contract,
    EventId,
    KeyFacts,
    Language,
    Summary,
    TicketText,
)
from shared.pipeline.contracts.triage import Category, Priority

ReplyText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
Mode = Literal["answer", "clarify"]
Question = Annotated[str, StringConstraints(min_length=1, max_length=300)]


class ResponderRequest(Contract):
    """What the validator hands the responder: the redacted request and triage's decision."""

    text: TicketText
    language: Language
    category: Category
    priority: Priority
    mode: Mode
    summary: Summary
    key_facts: KeyFacts = []


class ResponderResult(Contract):
    """The drafted reply."""

    reply: ReplyText
    language: Language
    follow_up_questions: Annotated[
        list[Annotated[str, Field(max_length=300)]], Field(max_length=3)
    ] = []


class FinalResponse(Contract):
    """An entry of the ``responses`` stream, after the validator accepted the reply."""

    event_id: EventId
    reply: ReplyText
    language: Language
    category: Category
    priority: Priority
    mode: Mode
    summary: Summary

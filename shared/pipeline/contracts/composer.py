"""Contracts at the composer boundary: the drafts of a message's several issues, one reply out."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from shared.pipeline.contracts.base import Contract, Language, Summary
from shared.pipeline.contracts.responder import ReplyText
from shared.pipeline.contracts.triage import MAX_ISSUES, Category, Priority


class Draft(Contract):
    """The responder's draft for one issue of the message."""

    category: Category
    summary: Summary
    reply: ReplyText


class ComposerRequest(Contract):
    """What the validator hands the composer once every issue's draft is in (the join
    ``issues``). ``missing``: the issues no draft came back for (a partial join)."""

    language: Language
    priority: Priority
    summary: Summary
    drafts: Annotated[list[Draft], Field(min_length=1, max_length=MAX_ISSUES)]
    missing: Annotated[list[Summary], Field(max_length=MAX_ISSUES)] = []


class ComposerResult(Contract):
    """One reply answering every issue."""

    reply: ReplyText
    language: Language

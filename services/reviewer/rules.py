"""The panelists' offline rules: the same keywords as triage, read five different ways, so that a
clear request gets the same answer from all of them and a torn one does not."""

from __future__ import annotations

import re
from collections.abc import Callable

from services.triage.rules import HUMAN, category_hits
from shared.pipeline.contracts import CATEGORIES, Opinion, ReviewRequest
from shared.pipeline.contracts.triage import Category

_SENTENCES = re.compile(r"(?<=[.!?])\s+|\n+")
_ASKS = re.compile(r"\?|\b(please|can you|could you|i need|i want|i would like|i'd like)\b", re.I)
VAGUE_WORDS = 6


def _whole(sentences: list[str]) -> str:
    return " ".join(sentences)


def _first(sentences: list[str]) -> str:
    return " ".join(sentences[:1])


def _asks(sentences: list[str]) -> str:
    asking = [s for s in sentences if _ASKS.search(s)]
    return " ".join(asking or sentences)


def _last(sentences: list[str]) -> str:
    return " ".join(sentences[-1:])


# Per panelist: which part of the request it reads, and how it breaks a tie between categories.
READINGS: tuple[tuple[Callable[[list[str]], str], bool], ...] = (
    (_whole, False), (_first, True), (_asks, False), (_whole, True), (_last, False),
)  # fmt: skip


def review(request: ReviewRequest, sensitive: tuple[str, ...]) -> Opinion:
    read, reverse = READINGS[request.panelist % len(READINGS)]
    sentences = [s for s in _SENTENCES.split(request.text) if s.strip()] or [request.text]
    part = read(sentences)
    hits = category_hits(part)
    order: list[Category] = list(reversed(CATEGORIES)) if reverse else list(CATEGORIES)
    specific = [c for c in order if c != "general" and hits[c]]
    category: Category
    if specific:
        category = max(specific, key=lambda c: hits[c])  # first of the order among the best
        confidence = min(0.95, 0.5 + 0.15 * hits[category])
    else:
        category, confidence = "general", 0.4
    vague = not specific and len(request.text.split()) <= VAGUE_WORDS
    human = bool(HUMAN.search(request.text))
    escalate = category in sensitive or human or vague
    why = f"panelist {request.panelist}: {hits[category]} {category} keyword(s)"
    return Opinion(category=category, confidence=round(confidence, 2), escalate=escalate,
                   rationale=why)  # fmt: skip

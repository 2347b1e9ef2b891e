"""Deterministic safety signals, combined with the model's triage.

A model can miss an emergency, a legal threat, a request for a person or a data-protection
request (a small one often does); the validator routes on the model's fields, so a miss would
route around the human who must see the event. Here the same keyword rules the offline provider
uses read the text as well, and a signal they find wins over the model's judgement, the way
intake's deterministic injection screen is combined with the model's score: the combined result
can only be more cautious than the model's, never less.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.triage.keywords import KeywordIndex
from services.triage.rules import HUMAN, category_hits, without_instructions
from shared.pipeline.contracts import TriageRequest, TriageResult
from shared.pipeline.contracts.triage import Category, Priority

PERSONAL_DATA = KeywordIndex({"legal": ("personal data", "delete my data", "data breach",
                                        "data leak", "gdpr", "data protection")})  # fmt: skip
"""A request about the customer's personal data is a data-protection matter: legal."""

_SEVERITY: tuple[Category, ...] = ("emergency", "legal", "complaint")
"""When several sensitive topics are found, the first decides the category."""
_PRIORITIES: tuple[Priority, ...] = ("low", "normal", "high", "urgent")


@dataclass(frozen=True)
class Signals:
    sensitive: Category | None
    human: bool

    @property
    def names(self) -> list[str]:
        found = [f"signal_{self.sensitive}"] if self.sensitive else []
        return found + (["signal_human_requested"] if self.human else [])


def signals(request: TriageRequest, sensitive: tuple[str, ...]) -> Signals:
    """What the rules find in the customer's words (instructions to the system left out)."""
    said = without_instructions(request.text)
    lowered = said.lower()
    hits = category_hits(said)
    if PERSONAL_DATA.any(lowered):
        hits["legal"] += 1
    found = [c for c in _SEVERITY if c in sensitive and hits[c]]
    found += [c for c in hits if c in sensitive and hits[c] and c not in found]
    return Signals(found[0] if found else None, bool(HUMAN.search(said)))


def combine(result: TriageResult, found: Signals, sensitive: tuple[str, ...]) -> TriageResult:
    """The model's result, made at least as cautious as the signals require."""
    update: dict[str, object] = {}
    if found.sensitive and result.category not in sensitive:
        update["category"] = found.sensitive
        update["route"] = "escalate"
        floor: Priority = "urgent" if found.sensitive == "emergency" else "high"
        update["priority"] = max(result.priority, floor, key=_PRIORITIES.index)
    if found.human and not result.human_requested:
        update["human_requested"] = True
    if not update:
        return result
    reasons = list(dict.fromkeys([*found.names, *result.reasons]))[:10]
    return result.model_copy(update={**update, "reasons": reasons})

"""Typed pydantic contracts for every handoff (strict, unknown fields forbidden, bounded sizes)."""

from shared.contracts.base import Contract
from shared.contracts.composer import ComposerRequest, ComposerResult, Draft
from shared.contracts.intake import CustomerRequest, IntakeResult, PiiCounts
from shared.contracts.responder import FinalResponse, ResponderRequest, ResponderResult
from shared.contracts.review import Opinion, ReviewRequest
from shared.contracts.triage import CATEGORIES, Issue, TriageRequest, TriageResult

__all__ = [
    "CATEGORIES",
    "ComposerRequest",
    "ComposerResult",
    "Contract",
    "CustomerRequest",
    "Draft",
    "FinalResponse",
    "IntakeResult",
    "Issue",
    "Opinion",
    "PiiCounts",
    "ResponderRequest",
    "ResponderResult",
    "ReviewRequest",
    "TriageRequest",
    "TriageResult",
]

"""Typed pydantic contracts for every handoff (strict, unknown fields forbidden, bounded sizes)."""

from shared.pipeline.contracts.base import Contract
from shared.pipeline.contracts.composer import ComposerRequest, ComposerResult, Draft
from shared.pipeline.contracts.intake import CustomerRequest, IntakeResult, PiiCounts
from shared.pipeline.contracts.responder import FinalResponse, ResponderRequest, ResponderResult
from shared.pipeline.contracts.review import Opinion, ReviewRequest
from shared.pipeline.contracts.triage import CATEGORIES, Issue, TriageRequest, TriageResult

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

"""Typed pydantic contracts for every handoff (strict, unknown fields forbidden, bounded sizes)."""

from shared.contracts.base import Contract
from shared.contracts.intake import CustomerRequest, IntakeResult, PiiCounts
from shared.contracts.responder import FinalResponse, ResponderRequest, ResponderResult
from shared.contracts.triage import CATEGORIES, TriageRequest, TriageResult

__all__ = [
    "CATEGORIES",
    "Contract",
    "CustomerRequest",
    "FinalResponse",
    "IntakeResult",
    "PiiCounts",
    "ResponderRequest",
    "ResponderResult",
    "TriageRequest",
    "TriageResult",
]

"""Typed pydantic contracts for every handoff (strict, unknown fields forbidden, bounded sizes)."""

from shared.pipeline.contracts.base import Contract
from shared.pipeline.contracts.intake import CustomerRequest, IntakeResult, PiiCounts
from shared.pipeline.contracts.responder import FinalResponse, ResponderRequest, ResponderResult
from shared.pipeline.contracts.triage import CATEGORIES, TriageRequest, TriageResult

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

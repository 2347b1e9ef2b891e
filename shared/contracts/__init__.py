"""Typed pydantic contracts for every handoff (strict, unknown fields forbidden, bounded sizes)."""

from shared.contracts.base import Contract
from shared.contracts.intake import CustomerRequest, IntakeResult, PiiCounts
from shared.contracts.responder import FinalResponse, ResponderRequest, ResponderResult
from shared.contracts.triage import CATEGORIES, TriageRequest, TriageResult

AGENT_INPUTS: dict[str, type[Contract]] = {
    "intake": CustomerRequest,
    "triage": TriageRequest,
    "responder": ResponderRequest,
}
AGENT_OUTPUTS: dict[str, type[Contract]] = {
    "intake": IntakeResult,
    "triage": TriageResult,
    "responder": ResponderResult,
}

__all__ = [
    "AGENT_INPUTS",
    "AGENT_OUTPUTS",
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

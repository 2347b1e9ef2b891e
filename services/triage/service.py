"""Wiring of the triage service."""

from __future__ import annotations

from services.triage.handler import handle
from services.triage.settings import TriageSettings
from shared.agent import AgentStage
from shared.config import BatonSettings
from shared.contracts import TriageRequest, TriageResult
from shared.llm import build_llm
from shared.stage import Stage

SETTINGS = TriageSettings


def build_stage(settings: BatonSettings) -> Stage:
    assert isinstance(settings, TriageSettings)
    return AgentStage[TriageRequest, TriageResult, TriageSettings](
        "triage", TriageRequest, handle, settings, build_llm(settings)
    )

"""Wiring of the intake service."""

from __future__ import annotations

from services.intake.handler import handle
from services.intake.settings import IntakeSettings
from shared.agent import IntakeStage
from shared.config import BatonSettings
from shared.contracts import CustomerRequest, IntakeResult
from shared.llm import build_llm
from shared.stage import Stage

SETTINGS = IntakeSettings


def build_stage(settings: BatonSettings) -> Stage:
    assert isinstance(settings, IntakeSettings)
    return IntakeStage[CustomerRequest, IntakeResult, IntakeSettings](
        "intake", CustomerRequest, handle, settings, build_llm(settings)
    )

"""Wiring of the validator service."""

from __future__ import annotations

from services.validator.settings import ValidatorSettings
from services.validator.stage import ValidatorStage
from shared.config import BatonSettings
from shared.stage import Stage

SETTINGS = ValidatorSettings


def build_stage(settings: BatonSettings) -> Stage:
    assert isinstance(settings, ValidatorSettings)
    return ValidatorStage(settings)

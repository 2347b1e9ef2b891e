"""Intake's settings (``BATON_INTAKE_*`` plus the shared ``BATON_*``)."""

from __future__ import annotations

from pydantic import Field

from shared.pipeline.settings import BatonSettings


class IntakeSettings(BatonSettings):
    intake_model: str = Field(default="gpt-4o-mini", description="model for screening")
    intake_max_tokens: int = Field(default=400, ge=16, le=8192)
    intake_model_risk_alone: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description="the most the model's injection score counts when the deterministic screen "
        "finds no signal (below BATON_VALIDATOR_INJECTION_THRESHOLD: a model alone cannot "
        "escalate an ordinary request)",
    )

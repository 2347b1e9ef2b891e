"""The validator's settings (``BATON_VALIDATOR_*`` plus the shared ``BATON_*``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from shared.pipeline.settings import BatonSettings


class ValidatorSettings(BatonSettings):
    validator_max_clarifications: int = Field(
        default=2, ge=0, le=5, description="times an agent may redo a rejected output"
    )
    validator_repeated_clarifications: int = Field(
        default=2, ge=1, le=10, description="rejected outputs after which an event goes to a human"
    )
    validator_injection_threshold: float = Field(
        default=0.8, ge=0, le=1, description="injection risk at which intake output is escalated"
    )
    validator_invalid_output: Literal["escalate", "dead_letter"] = Field(
        default="escalate",
        description="where an event goes once its agent's output has failed its contract "
        "validator_max_clarifications + 1 times: a human (escalate) or the dead-letter stream",
    )
    validator_panel_size: int = Field(
        default=3,
        ge=0,
        le=5,
        description="reviewers of a sensitive or borderline triage "
        "decision (the join panel); 0 turns the panel off",
    )
    validator_panel_margin: float = Field(
        default=0.05,
        ge=0,
        le=0.5,
        description="triage confidence this close to the threshold goes to the panel",
    )
    validator_panel_agreement: float = Field(
        default=0.75,
        gt=0.5,
        le=1,
        description="share of panelists that must agree for the majority to decide",
    )

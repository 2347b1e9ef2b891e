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

"""Wiring of the intake service."""

from __future__ import annotations

from redis.asyncio import Redis

from services.intake.handler import handle
from services.intake.settings import IntakeSettings
from services.pipeline import PIPELINE
from shared.agent import IntakeStage, agent_stage
from shared.config import BatonSettings
from shared.contracts import CustomerRequest, IntakeResult
from shared.stage import Stage

SETTINGS = IntakeSettings


def build_stage(settings: BatonSettings, redis: Redis) -> Stage:
    assert isinstance(settings, IntakeSettings)
    stage_class = IntakeStage[CustomerRequest, IntakeResult, IntakeSettings]
    return agent_stage(stage_class, PIPELINE.agent("intake"), handle, settings, redis)

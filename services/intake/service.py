"""Wiring of the intake service."""

from __future__ import annotations

from redis.asyncio import Redis

from services.intake.handler import handle
from services.intake.settings import IntakeSettings
from services.pipeline import PIPELINE
from shared.agents.agent import IntakeStage, agent_stage
from shared.pipeline.contracts import CustomerRequest, IntakeResult
from shared.pipeline.settings import BatonSettings
from shared.pipeline.stage import PipelineStage

SETTINGS = IntakeSettings


def build_stage(settings: BatonSettings, redis: Redis) -> PipelineStage:
    assert isinstance(settings, IntakeSettings)
    stage_class = IntakeStage[CustomerRequest, IntakeResult, IntakeSettings]
    return agent_stage(stage_class, PIPELINE.agent("intake"), handle, settings, redis)

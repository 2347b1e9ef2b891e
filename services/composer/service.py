"""Wiring of the composer service."""

from __future__ import annotations

from redis.asyncio import Redis

from services.composer.handler import handle
from services.composer.settings import ComposerSettings
from services.pipeline import PIPELINE
from shared.agents.agent import AgentStage, agent_stage
from shared.pipeline.contracts import ComposerRequest, ComposerResult
from shared.pipeline.settings import BatonSettings
from shared.pipeline.stage import PipelineStage

SETTINGS = ComposerSettings


def build_stage(settings: BatonSettings, redis: Redis) -> PipelineStage:
    assert isinstance(settings, ComposerSettings)
    stage_class = AgentStage[ComposerRequest, ComposerResult, ComposerSettings]
    return agent_stage(stage_class, PIPELINE.agent("composer"), handle, settings, redis)

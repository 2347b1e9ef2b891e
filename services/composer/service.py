"""Wiring of the composer service."""

from __future__ import annotations

from redis.asyncio import Redis

from services.composer.handler import handle
from services.composer.settings import ComposerSettings
from services.pipeline import PIPELINE
from shared.agent import AgentStage, agent_stage
from shared.config import BatonSettings
from shared.contracts import ComposerRequest, ComposerResult
from shared.stage import Stage

SETTINGS = ComposerSettings


def build_stage(settings: BatonSettings, redis: Redis) -> Stage:
    assert isinstance(settings, ComposerSettings)
    stage_class = AgentStage[ComposerRequest, ComposerResult, ComposerSettings]
    return agent_stage(stage_class, PIPELINE.agent("composer"), handle, settings, redis)

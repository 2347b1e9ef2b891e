"""Wiring of the reviewer service."""

from __future__ import annotations

from redis.asyncio import Redis

from services.pipeline import PIPELINE
from services.reviewer.handler import handle
from services.reviewer.settings import ReviewerSettings
from shared.agents.agent import AgentStage, agent_stage
from shared.pipeline.contracts import Opinion, ReviewRequest
from shared.pipeline.settings import BatonSettings
from shared.pipeline.stage import PipelineStage

SETTINGS = ReviewerSettings


def build_stage(settings: BatonSettings, redis: Redis) -> PipelineStage:
    assert isinstance(settings, ReviewerSettings)
    stage_class = AgentStage[ReviewRequest, Opinion, ReviewerSettings]
    return agent_stage(stage_class, PIPELINE.agent("reviewer"), handle, settings, redis)

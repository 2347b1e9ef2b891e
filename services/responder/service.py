"""Wiring of the responder service."""

from __future__ import annotations

from redis.asyncio import Redis

from services.pipeline import PIPELINE
from services.responder.handler import handle
from services.responder.settings import ResponderSettings
from shared.agents.agent import AgentStage, agent_stage
from shared.pipeline.contracts import ResponderRequest, ResponderResult
from shared.pipeline.settings import BatonSettings
from shared.pipeline.stage import PipelineStage

SETTINGS = ResponderSettings


def build_stage(settings: BatonSettings, redis: Redis) -> PipelineStage:
    assert isinstance(settings, ResponderSettings)
    stage_class = AgentStage[ResponderRequest, ResponderResult, ResponderSettings]
    return agent_stage(stage_class, PIPELINE.agent("responder"), handle, settings, redis)

"""Wiring of the triage service."""

from __future__ import annotations

from redis.asyncio import Redis

from services.pipeline import PIPELINE
from services.triage.handler import handle
from services.triage.settings import TriageSettings
from shared.agents.agent import AgentStage, agent_stage
from shared.pipeline.contracts import TriageRequest, TriageResult
from shared.pipeline.settings import BatonSettings
from shared.pipeline.stage import PipelineStage

SETTINGS = TriageSettings


def build_stage(settings: BatonSettings, redis: Redis) -> PipelineStage:
    assert isinstance(settings, TriageSettings)
    stage_class = AgentStage[TriageRequest, TriageResult, TriageSettings]
    return agent_stage(stage_class, PIPELINE.agent("triage"), handle, settings, redis)

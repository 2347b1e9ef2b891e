"""Wiring of the validator service."""

from __future__ import annotations

from redis.asyncio import Redis

from services.pipeline import PIPELINE
from services.validator.settings import ValidatorSettings
from services.validator.stage import ValidatorStage
from shared.agents.guardrails import BudgetLedger
from shared.pipeline.settings import BatonSettings
from shared.pipeline.stage import PipelineStage

SETTINGS = ValidatorSettings


def build_stage(settings: BatonSettings, redis: Redis) -> PipelineStage:
    assert isinstance(settings, ValidatorSettings)
    ledger = BudgetLedger(redis, settings.keys, settings.run_retention_s)
    return ValidatorStage(settings, ledger, PIPELINE)

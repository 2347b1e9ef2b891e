"""Wiring of the responder service."""

from __future__ import annotations

from services.responder.handler import handle
from services.responder.settings import ResponderSettings
from shared.agent import AgentStage
from shared.config import BatonSettings
from shared.contracts import ResponderRequest, ResponderResult
from shared.llm import build_llm
from shared.stage import Stage

SETTINGS = ResponderSettings


def build_stage(settings: BatonSettings) -> Stage:
    assert isinstance(settings, ResponderSettings)
    return AgentStage[ResponderRequest, ResponderResult, ResponderSettings](
        "responder", ResponderRequest, handle, settings, build_llm(settings)
    )

"""The responder's settings (``BATON_RESPONDER_*`` plus the shared ``BATON_*``)."""

from __future__ import annotations

from pydantic import Field

from shared.pipeline.settings import BatonSettings


class ResponderSettings(BatonSettings):
    responder_model: str = Field(default="gpt-4o", description="a larger model writes replies")
    responder_max_tokens: int = Field(default=600, ge=16, le=8192)
    responder_temperature: float = Field(default=0.3, ge=0, le=2)

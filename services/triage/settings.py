"""Triage's settings (``BATON_TRIAGE_*`` plus the shared ``BATON_*``)."""

from __future__ import annotations

from pydantic import Field

from shared.pipeline.settings import BatonSettings


class TriageSettings(BatonSettings):
    triage_model: str = Field(default="gpt-4o-mini", description="a small model is enough")
    triage_max_tokens: int = Field(default=300, ge=16, le=8192)

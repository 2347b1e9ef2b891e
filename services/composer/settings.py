"""The composer's settings (``BATON_COMPOSER_*`` plus the shared ``BATON_*``)."""

from __future__ import annotations

from pydantic import Field

from shared.pipeline.settings import BatonSettings


class ComposerSettings(BatonSettings):
    composer_model: str = Field(default="gpt-4o", description="merges the drafts into one reply")
    composer_max_tokens: int = Field(default=800, ge=16, le=8192)
    composer_temperature: float = Field(default=0.2, ge=0, le=2)

"""The reviewer's settings (``BATON_REVIEWER_*`` plus the shared ``BATON_*``)."""

from __future__ import annotations

from pydantic import Field

from shared.pipeline.settings import BatonSettings


class ReviewerSettings(BatonSettings):
    reviewer_model: str = Field(default="gpt-4o-mini", description="the panelists' default model")
    reviewer_models: tuple[str, ...] = Field(
        default=(),
        description="a model per panelist, in panelist order (a JSON list); "
        "panelists past the list use reviewer_model",
    )
    reviewer_max_tokens: int = Field(default=200, ge=16, le=4096)

    def model_for(self, panelist: int) -> str:
        models = self.reviewer_models
        return models[panelist] if panelist < len(models) else self.reviewer_model

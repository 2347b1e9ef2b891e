"""The settings a pipeline's services share, on top of the runtime's: the LLM provider, budgets,
limits and routing thresholds. Each service subclasses :class:`BatonSettings` with its own fields
(its model name, say); ``load_settings`` builds one at start-up and it is passed down.
"""

from __future__ import annotations

from typing import Literal

from pydantic import (
    Field,
    NonNegativeFloat,
    NonNegativeInt,
    SecretStr,
)

from shared.errors import ConfigError
from shared.pipeline.keys import Keys
from shared.runtime.settings import RuntimeSettings, load_settings

LLMProvider = Literal["offline", "openai"]

__all__ = ["BatonSettings", "LLMProvider", "load_settings"]


class BatonSettings(RuntimeSettings):
    """Settings every service of a pipeline shares."""

    llm: LLMProvider | None = Field(default=None, description="offline or openai; see llm_provider")
    openai_base_url: str | None = Field(default=None, validation_alias="OPENAI_BASE_URL")
    openai_api_key: SecretStr | None = Field(default=None, validation_alias="OPENAI_API_KEY")
    openai_organization: str | None = Field(default=None, validation_alias="OPENAI_ORG_ID")
    openai_project: str | None = Field(default=None, validation_alias="OPENAI_PROJECT_ID")
    azure_openai_endpoint: str | None = Field(
        default=None,
        validation_alias="AZURE_OPENAI_ENDPOINT",
        description="an Azure OpenAI resource (https://NAME.openai.azure.com): model names are "
        "its deployments; the key is AZURE_OPENAI_API_KEY (or OPENAI_API_KEY)",
    )
    azure_openai_api_key: SecretStr | None = Field(
        default=None, validation_alias="AZURE_OPENAI_API_KEY"
    )
    openai_api_version: str = Field(default="2024-10-21", validation_alias="OPENAI_API_VERSION")
    llm_reasoning_models: str = Field(
        default=r"^(o\d|gpt-5)",
        description="models (regex on the name) sent max_completion_tokens and no temperature",
    )
    llm_timeout_s: float = Field(default=30.0, gt=0, le=600)
    llm_structured: Literal["auto", "json_schema", "json_object_schema", "json_object"] = Field(
        default="auto",
        description="json_schema, json_object_schema (llama.cpp), json_object (JSON mode), or "
        "auto (negotiated per base URL and model; docs/llm-servers.md)",
    )
    llm_max_attempts: int = Field(default=4, ge=1, le=20, description="HTTP attempts per LLM call")
    llm_backoff_base_s: float = Field(default=0.5, gt=0, le=60)
    llm_backoff_cap_s: float = Field(default=8.0, gt=0, le=600)
    llm_max_wait_s: float = Field(
        default=30.0, gt=0, le=3600, description="longest wait for rate-limit room or Retry-After"
    )
    llm_rpm: int = Field(default=0, ge=0, description="requests/min per model, all replicas; 0=off")
    llm_tpm: int = Field(default=0, ge=0, description="tokens/min per model, all replicas; 0=off")
    llm_limits: dict[str, dict[Literal["rpm", "tpm"], NonNegativeInt]] = Field(
        default_factory=dict, description='per-model limits, JSON: {"gpt-4o": {"rpm": 500}}'
    )
    llm_breaker_failures: int = Field(default=5, ge=1, le=1000)
    llm_breaker_cooldown_s: float = Field(default=30.0, gt=0, le=3600)
    llm_prices: dict[str, dict[Literal["input", "output"], NonNegativeFloat]] = Field(
        default_factory=dict, description='USD per 1M tokens: {"m": {"input": 1, "output": 2}}'
    )
    max_payload_bytes: int = Field(default=65_536, ge=256, le=16 * 1024 * 1024)
    confidence_threshold: float = Field(default=0.6, ge=0, le=1)
    budget_tokens: int = Field(default=20_000, ge=1, description="LLM tokens per event, all stages")
    budget_usd: float = Field(default=0.50, ge=0, description="LLM spend per event, all stages")
    max_hops: int = Field(default=20, ge=2, le=1000, description="publishes per event")
    deadline_s: float = Field(default=600.0, gt=0, description="from intake to a final outcome")
    sensitive_categories: tuple[str, ...] = ("legal", "emergency", "complaint")
    metrics_port: int | None = Field(
        default=None, ge=1, le=65535, description="serve Prometheus /metrics here (unset: off)"
    )

    def _check_timing_rules(self) -> None:
        if self.reclaim_idle_s <= self.llm_timeout_s:
            raise ConfigError(
                f"reclaim_idle_ms ({self.reclaim_idle_ms_effective} ms) must exceed the LLM "
                f"timeout ({self.llm_timeout_s} s), or healthy slow calls are stolen by peers"
            )
        super()._check_timing_rules()

    @property
    def reclaim_idle_ms_effective(self) -> int:
        """Twice the LLM timeout unless set: a healthy slow call is never taken over."""
        if self.reclaim_idle_ms is not None:
            return self.reclaim_idle_ms
        return int(self.llm_timeout_s * 2000)

    @property
    def keys(self) -> Keys:
        return Keys(self.prefix)

    @property
    def llm_provider(self) -> LLMProvider:
        """``BATON_LLM`` if set; else ``openai`` when an OpenAI endpoint or key is configured."""
        if self.llm is not None:
            return self.llm
        if self.openai_base_url or self.openai_api_key or self.azure_openai_endpoint:
            return "openai"
        return "offline"

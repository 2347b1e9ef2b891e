"""Settings: one pydantic-settings object per service, built at start-up and passed down.

Nothing here reads the environment at import time; ``load_settings`` (or the class itself) does
it when a service starts. Names without the ``BATON_`` prefix (``REDIS_URL``, ``OPENAI_*``) are
the ecosystem's own and are read as they are.
"""

from __future__ import annotations

import os
import socket
import uuid
from pathlib import Path
from typing import Literal, Self, TypeVar

from pydantic import (
    AliasChoices,
    Field,
    NonNegativeFloat,
    NonNegativeInt,
    SecretStr,
    ValidationError,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.errors import ConfigError
from shared.keys import Keys

LLMProvider = Literal["offline", "openai"]
LogLevel = Literal["debug", "info", "warning", "error"]


class BatonSettings(BaseSettings):
    """Settings every service shares. Each service subclasses this with its own fields."""

    model_config = SettingsConfigDict(
        env_prefix="BATON_", extra="ignore", frozen=True, populate_by_name=True
    )

    redis_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("REDIS_URL", "BATON_REDIS_URL"),
        description="Redis URL; unset means `baton up` and the tests start an embedded server.",
    )
    redis_username: str | None = Field(
        default=None, description="Redis ACL user (BATON_REDIS_USERNAME); a user in the URL wins"
    )
    redis_password: SecretStr | None = Field(
        default=None,
        description="its password (BATON_REDIS_PASSWORD), never logged; a password in the URL wins",
    )
    prefix: str = Field(default="baton", pattern=r"^[A-Za-z0-9_.-]{1,64}$")
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

    consumer: str | None = Field(default=None, description="consumer name; default host-pid-rand")
    concurrency: int = Field(
        default=256, ge=1, le=10_000, description="events in flight per worker"
    )
    batch_size: int = Field(default=100, ge=1, le=10_000, description="entries per XREADGROUP")
    block_ms: int = Field(default=2000, ge=10, le=60_000, description="XREADGROUP BLOCK")
    max_deliveries: int = Field(default=5, ge=1, le=1000)
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
    reclaim_idle_ms: int | None = Field(
        default=None, ge=100, description="idle time before peers reclaim; default 2x LLM timeout"
    )
    reclaim_interval_s: float = Field(default=5.0, gt=0, le=600)
    retry_base_s: float = Field(default=0.2, gt=0)
    retry_cap_s: float = Field(default=10.0, gt=0)
    shutdown_grace_s: float = Field(default=20.0, ge=0, le=600)
    heartbeat_ttl_s: float = Field(default=15.0, gt=0, le=3600)
    heartbeat_file: Path | None = Field(
        default=None, description="rewritten with each heartbeat, for `python -m shared.health`"
    )
    max_payload_bytes: int = Field(default=65_536, ge=256, le=16 * 1024 * 1024)
    run_retention_s: int = Field(default=7 * 24 * 3600, ge=60)
    dedupe_ttl_s: int = Field(default=7 * 24 * 3600, ge=60)
    confidence_threshold: float = Field(default=0.6, ge=0, le=1)
    budget_tokens: int = Field(default=20_000, ge=1, description="LLM tokens per event, all stages")
    budget_usd: float = Field(default=0.50, ge=0, description="LLM spend per event, all stages")
    max_hops: int = Field(default=20, ge=2, le=1000, description="publishes per event")
    deadline_s: float = Field(default=600.0, gt=0, description="from intake to a final outcome")
    sensitive_categories: tuple[str, ...] = ("legal", "emergency", "complaint")
    metrics_port: int | None = Field(
        default=None, ge=1, le=65535, description="serve Prometheus /metrics here (unset: off)"
    )
    log_level: LogLevel = "info"
    log_format: Literal["auto", "json", "console"] = "auto"

    @model_validator(mode="after")
    def _check_timing(self) -> Self:
        if self.reclaim_idle_s <= self.llm_timeout_s:
            raise ConfigError(
                f"reclaim_idle_ms ({self.reclaim_idle_ms_effective} ms) must exceed the LLM "
                f"timeout ({self.llm_timeout_s} s), or healthy slow calls are stolen by peers"
            )
        if self.retry_cap_s >= self.reclaim_idle_s:
            raise ConfigError("retry_cap_s must stay below the reclaim idle time")
        return self

    @property
    def reclaim_idle_ms_effective(self) -> int:
        if self.reclaim_idle_ms is not None:
            return self.reclaim_idle_ms
        return int(self.llm_timeout_s * 2000)

    @property
    def reclaim_idle_s(self) -> float:
        return self.reclaim_idle_ms_effective / 1000

    @property
    def llm_provider(self) -> LLMProvider:
        """``BATON_LLM`` if set; else ``openai`` when an OpenAI endpoint or key is configured."""
        if self.llm is not None:
            return self.llm
        if self.openai_base_url or self.openai_api_key or self.azure_openai_endpoint:
            return "openai"
        return "offline"

    @property
    def keys(self) -> Keys:
        return Keys(self.prefix)

    def consumer_name(self) -> str:
        """A consumer name unique to this process, so a restarted worker never inherits a PEL."""
        if self.consumer:
            return self.consumer
        return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


S = TypeVar("S", bound=BatonSettings)


def load_settings(cls: type[S], **overrides: object) -> S:
    """Build settings from the environment, turning validation errors into a clear ConfigError."""
    try:
        return cls(**overrides)  # type: ignore[arg-type]
    except ConfigError:
        raise
    except ValidationError as exc:
        problems = "; ".join(
            f"{_variable(cls, e['loc'])}: {e['msg']}"
            for e in exc.errors(include_input=False, include_url=False)[:3]
        )
        raise ConfigError(f"invalid settings: {problems}") from exc
    except ValueError as exc:
        raise ConfigError(f"invalid settings: {exc}") from exc


def _variable(cls: type[BatonSettings], loc: tuple[int | str, ...]) -> str:
    """The environment variable a setting comes from (``BATON_CONCURRENCY``, ``REDIS_URL``)."""
    name = str(loc[0]) if loc else ""
    field = cls.model_fields.get(name)
    alias = field.validation_alias if field else None
    if isinstance(alias, str):
        return alias
    if isinstance(alias, AliasChoices) and isinstance(alias.choices[0], str):
        return alias.choices[0]
    return f"{cls.model_config.get('env_prefix', '')}{name}".upper()

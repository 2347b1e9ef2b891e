"""The settings every worker's runtime reads, and how settings are loaded.

One pydantic-settings object per service, built at start-up and passed down; nothing reads the
environment at import time. A pipeline's services extend :class:`RuntimeSettings` with their own
fields (:class:`shared.pipeline.settings.BatonSettings`). Names without the ``BATON_`` prefix
(``REDIS_URL``) are the ecosystem's own and are read as they are.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from pathlib import Path
from typing import Literal, Self, TypeVar

from pydantic import AliasChoices, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.errors import ConfigError
from shared.runtime.keys import RuntimeKeys

LogLevel = Literal["debug", "info", "warning", "error"]
LOG_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
              "error": logging.ERROR}  # fmt: skip
DEFAULT_RECLAIM_IDLE_MS = 60_000


class RuntimeSettings(BaseSettings):
    """How a worker reads, retries, reclaims and shuts down; where Redis is."""

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
    consumer: str | None = Field(default=None, description="consumer name; default host-pid-rand")
    concurrency: int = Field(
        default=256, ge=1, le=10_000, description="events in flight per worker"
    )
    batch_size: int = Field(default=100, ge=1, le=10_000, description="entries per XREADGROUP")
    block_ms: int = Field(default=2000, ge=10, le=60_000, description="XREADGROUP BLOCK")
    max_deliveries: int = Field(default=5, ge=1, le=1000)
    reclaim_idle_ms: int | None = Field(
        default=None,
        ge=100,
        description="idle time before peers reclaim (default 60 s)",
    )
    reclaim_interval_s: float = Field(default=5.0, gt=0, le=600)
    retry_base_s: float = Field(default=0.2, gt=0)
    retry_cap_s: float = Field(default=10.0, gt=0)
    shutdown_grace_s: float = Field(default=20.0, ge=0, le=600)
    heartbeat_ttl_s: float = Field(default=15.0, gt=0, le=3600)
    heartbeat_file: Path | None = Field(
        default=None,
        description="rewritten with each heartbeat, for `python -m shared.runtime.health`",
    )
    run_retention_s: int = Field(default=7 * 24 * 3600, ge=60)
    dedupe_ttl_s: int = Field(default=7 * 24 * 3600, ge=60)
    log_level: LogLevel = "info"
    log_format: Literal["auto", "json", "console"] = "auto"

    @model_validator(mode="after")
    def _check_timing(self) -> Self:
        self._check_timing_rules()
        return self

    def _check_timing_rules(self) -> None:
        """Raise ConfigError for timings that contradict each other; subclasses add theirs."""
        if self.retry_cap_s >= self.reclaim_idle_s:
            raise ConfigError("retry_cap_s must stay below the reclaim idle time")

    @property
    def reclaim_idle_ms_effective(self) -> int:
        """How long an entry stays pending, idle, before peers take it over."""
        if self.reclaim_idle_ms is not None:
            return self.reclaim_idle_ms
        return DEFAULT_RECLAIM_IDLE_MS

    @property
    def reclaim_idle_s(self) -> float:
        return self.reclaim_idle_ms_effective / 1000

    @property
    def keys(self) -> RuntimeKeys:
        return RuntimeKeys(self.prefix)

    def consumer_name(self) -> str:
        """A consumer name unique to this process, so a restarted worker never inherits a PEL."""
        if self.consumer:
            return self.consumer
        return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"

    def logs_at(self, level: LogLevel) -> bool:
        """Whether this process writes lines of ``level``: a hot path can skip building a line's
        values once, rather than have each call filtered."""
        return LOG_LEVELS[self.log_level] <= LOG_LEVELS[level]


S = TypeVar("S", bound=RuntimeSettings)


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


def _variable(cls: type[RuntimeSettings], loc: tuple[int | str, ...]) -> str:
    """The environment variable a setting comes from (``BATON_CONCURRENCY``, ``REDIS_URL``)."""
    name = str(loc[0]) if loc else ""
    field = cls.model_fields.get(name)
    alias = field.validation_alias if field else None
    if isinstance(alias, str):
        return alias
    if isinstance(alias, AliasChoices) and isinstance(alias.choices[0], str):
        return alias.choices[0]
    return f"{cls.model_config.get('env_prefix', '')}{name}".upper()

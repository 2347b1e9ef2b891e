"""LLM access: a provider-neutral request type, the offline and OpenAI providers, the factory."""

from __future__ import annotations

from redis.asyncio import Redis

from shared.agents.llm.client import (
    Availability,
    LLMClient,
    LLMRequest,
    LLMResult,
    Usage,
    UsageMeter,
)
from shared.agents.llm.offline import OfflineLLM
from shared.pipeline.settings import BatonSettings


def build_llm(settings: BatonSettings, redis: Redis | None = None) -> LLMClient:
    """The client for ``settings.llm_provider``.

    ``redis`` carries the global rate limit (``BATON_LLM_RPM``/``TPM``/``LIMITS``) shared by all
    replicas; the offline provider ignores it, and the OpenAI provider needs it only when a limit
    is set (otherwise :class:`~shared.errors.ConfigError`).
    """
    if settings.llm_provider == "offline":
        return OfflineLLM()
    from shared.agents.llm.openai_provider import OpenAIClient

    return OpenAIClient.from_settings(settings, redis)


__all__ = [
    "Availability",
    "LLMClient",
    "LLMRequest",
    "LLMResult",
    "OfflineLLM",
    "Usage",
    "UsageMeter",
    "build_llm",
]

"""LLM access: a provider-neutral request type, the offline provider, and the factory."""

from shared.config import BatonSettings
from shared.errors import ConfigError
from shared.llm.client import LLMClient, LLMRequest, LLMResult, Usage, UsageMeter
from shared.llm.offline import OfflineLLM


def build_llm(settings: BatonSettings) -> LLMClient:
    """The client for ``settings.llm_provider``."""
    if settings.llm_provider == "offline":
        return OfflineLLM()
    raise ConfigError("BATON_LLM=openai is not available in this build; use BATON_LLM=offline")


__all__ = ["LLMClient", "LLMRequest", "LLMResult", "OfflineLLM", "Usage", "UsageMeter", "build_llm"]

"""Fixtures for the LLM tier: the fake OpenAI server and clients pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from pydantic import SecretStr
from redis.asyncio import Redis

from shared.agents.llm import LLMClient, build_llm
from shared.pipeline.settings import BatonSettings
from tests.fakes.openai_server import FakeOpenAI

API_KEY = "sk-test-not-a-secret"

# Short timings so retries and cool-downs take milliseconds; they do not weaken any lower bound
# a test asserts (those come from the server's Retry-After or the breaker's cool-down).
FAST_LLM: dict[str, Any] = {
    "llm_timeout_s": 2.0,
    "retry_cap_s": 0.2,
    "llm_backoff_base_s": 0.01,
    "llm_backoff_cap_s": 0.05,
    "llm_max_attempts": 3,
}


def llm_settings(fake: FakeOpenAI, **overrides: Any) -> BatonSettings:
    values: dict[str, Any] = {
        "llm": "openai",
        "openai_base_url": fake.base_url,
        "openai_api_key": SecretStr(API_KEY),
        **FAST_LLM,
        **overrides,
    }
    return BatonSettings(**values)


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


MakeClient = Callable[..., LLMClient]


@pytest.fixture
async def make_client(fake: FakeOpenAI) -> AsyncIterator[MakeClient]:
    """Builds clients with ``build_llm`` against ``fake`` (settings overrides as keywords)."""
    clients: list[LLMClient] = []

    def make(redis: Redis | None = None, **overrides: Any) -> LLMClient:
        client = build_llm(llm_settings(fake, **overrides), redis)
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()

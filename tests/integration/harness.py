"""Running one service alone against the test Redis, and building the entries it reads."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, cast

from redis.asyncio import Redis

import services
from services.pipeline import PIPELINE
from shared.agents.agent import AgentStage
from shared.agents.llm import LLMClient, LLMRequest, LLMResult, OfflineLLM
from shared.agents.llm.client import T
from shared.pipeline.envelope import Envelope, Fields
from shared.pipeline.keys import Keys
from shared.pipeline.settings import BatonSettings
from shared.pipeline.stage import PipelineStage as ServiceStage
from shared.runtime.delivery import as_text
from shared.runtime.runrecord import load_run
from shared.service import StageFactory, serve
from tests.helpers import settings_for, wait_for

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

INTAKE_RESULT: dict[str, Any] = {
    "text": "My invoice INV-1234 is wrong, write to [EMAIL]",
    "language": "en",
    "customer_id": "c-42",
    "channel": "email",
    "pii": {"email": 1, "phone": 0, "card": 0},
    "injection_risk": 0.0,
    "injection_signals": [],
    "summary": "My invoice INV-1234 is wrong, write to [EMAIL]",
    "key_facts": ["INV-1234"],
}
TRIAGE_REQUEST: dict[str, Any] = {
    "text": INTAKE_RESULT["text"],
    "language": "en",
    "channel": "email",
    "injection_risk": 0.0,
    "summary": INTAKE_RESULT["summary"],
    "key_facts": ["INV-1234"],
}
TRIAGE_RESULT: dict[str, Any] = {
    "category": "billing",
    "priority": "normal",
    "confidence": 0.8,
    "route": "respond",
    "human_requested": False,
    "reasons": [],
    "summary": INTAKE_RESULT["summary"],
    "key_facts": ["INV-1234"],
}
RESPONDER_REQUEST: dict[str, Any] = {
    "text": INTAKE_RESULT["text"],
    "language": "en",
    "category": "billing",
    "priority": "normal",
    "mode": "answer",
    "summary": INTAKE_RESULT["summary"],
    "key_facts": ["INV-1234"],
}
RESPONDER_RESULT: dict[str, Any] = {
    "reply": "Hello, we are reviewing invoice INV-1234.\n\nBest regards, the support team",
    "language": "en",
    "follow_up_questions": [],
}


def envelope(
    event_id: str,
    stage: str,
    payload: dict[str, Any],
    *,
    hops: int = 1,
    **fields: Any,
) -> Envelope:
    """An envelope as the previous hop would have published it."""
    now = time.time()
    return Envelope(
        event_id=event_id,
        stage=stage,
        payload=payload,
        hops=hops,
        created_at=now - 1.0,
        produced_at=now,
        traceparent=TRACEPARENT,
        **fields,
    )


class CountingLLM(OfflineLLM):
    """The offline provider, counting the calls a stage makes."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    async def generate(self, request: LLMRequest[T]) -> LLMResult[T]:
        self.calls += 1
        return await super().generate(request)


def with_llm(service: str, llm: LLMClient) -> StageFactory:
    """A factory for the real ``service`` agent stage, calling ``llm`` instead of its own."""

    def build(settings: BatonSettings, redis: Redis) -> ServiceStage:
        stage = services.load(service).build_stage(settings, redis)
        assert isinstance(stage, AgentStage)
        stage.llm = llm
        return stage

    return build


@dataclass
class Running:
    """A service running in this process, and handles on what it reads and writes."""

    settings: BatonSettings
    keys: Keys
    stream: str
    group: str


@asynccontextmanager
async def running(
    redis: Redis,
    url: str,
    service: str,
    prefix: str,
    *,
    build: StageFactory | None = None,
    **overrides: Any,
) -> AsyncIterator[Running]:
    """Run ``service`` (only it) until the block exits; its consumer group exists on entry."""
    settings = settings_for(service, url, prefix, llm="offline", **overrides)
    factory = build or services.load(service).build_stage
    stop = asyncio.Event()
    task = asyncio.create_task(serve(factory, settings, stop))
    stream = settings.keys.stream(PIPELINE.input_stream(service))

    async def group_exists() -> bool:
        if task.done():
            task.result()  # a start-up failure surfaces here instead of as a timeout
        if not await redis.exists(stream):
            return False
        groups = await redis.xinfo_groups(stream)
        return any(as_text(g["name"]) == service for g in groups)

    try:
        await wait_for(group_exists)
        yield Running(settings, settings.keys, stream, service)
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=30)


async def xadd(redis: Redis, stream: str, fields: Fields) -> str:
    return as_text(await redis.xadd(stream, cast(dict[Any, Any], fields)))


async def entries(redis: Redis, stream: str) -> list[tuple[str, Fields]]:
    found = cast(list[tuple[bytes, Fields]], await redis.xrange(stream))
    return [(as_text(entry_id), fields) for entry_id, fields in found]


async def envelopes(redis: Redis, stream: str) -> list[Envelope]:
    return [Envelope.from_fields(fields) for _, fields in await entries(redis, stream)]


async def wait_for_entries(redis: Redis, stream: str, count: int = 1) -> None:
    async def arrived() -> bool:
        return await redis.xlen(stream) >= count

    await wait_for(arrived)


async def pending(redis: Redis, stream: str, group: str) -> int:
    info = await redis.xpending(stream, group)
    return int(info["pending"])


async def run_record(redis: Redis, keys: Keys, event_id: str) -> dict[str, Any]:
    record = await load_run(redis, keys, event_id)
    assert record is not None, f"no run record for {event_id}"
    return record

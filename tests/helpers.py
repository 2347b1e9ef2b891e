"""Test helpers: condition waits (never bare sleeps), settings and in-process pipelines."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast

import orjson
from redis.asyncio import Redis

import services
from services.pipeline import PIPELINE
from shared.errors import PermanentError
from shared.pipeline.envelope import Envelope
from shared.pipeline.keys import Keys
from shared.pipeline.settings import BatonSettings
from shared.pipeline.stage import PipelineStage
from shared.runtime.delivery import Delivery, as_text
from shared.runtime.outcome import Outcome
from shared.service import StageFactory, serve

S = TypeVar("S", bound=BatonSettings)

FAST = {"block_ms": 100, "llm_timeout_s": 2.0, "reclaim_interval_s": 0.5, "retry_base_s": 0.01,
        "retry_cap_s": 0.2, "shutdown_grace_s": 5.0, "heartbeat_ttl_s": 5.0}  # fmt: skip


def settings_for(service: str, url: str, prefix: str, **overrides: Any) -> BatonSettings:
    module = services.load(service)
    values = {**FAST, **overrides}
    settings: BatonSettings = module.SETTINGS(redis_url=url, prefix=prefix, **values)
    return settings


async def wait_for(
    condition: Callable[[], Awaitable[bool]], *, timeout: float = 30.0, interval: float = 0.05
) -> None:
    """Poll ``condition`` until it holds; fail with a clear message after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await condition():
            return
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s")


async def stream_entries(redis: Redis, stream: str) -> list[dict[str, bytes]]:
    entries = cast(list[tuple[bytes, dict[bytes, bytes]]], await redis.xrange(stream))
    return [{k.decode(): v for k, v in fields.items()} for _, fields in entries]


async def post(redis: Redis, keys: Keys, payload: dict[str, Any] | bytes) -> str:
    """XADD a raw payload, as redis-cli would."""
    raw = payload if isinstance(payload, bytes) else orjson.dumps(payload)
    return as_text(await redis.xadd(keys.stream("intake"), {"payload": raw}))


async def terminal_count(redis: Redis, keys: Keys) -> int:
    total = 0
    for stream in (keys.responses, keys.escalations, keys.dlq):
        total += await redis.xlen(stream)
    return total


class InProcessPipeline:
    """The four services as asyncio tasks in this process (the e2e tier uses real processes)."""

    def __init__(self, url: str, prefix: str, stages: dict[str, StageFactory] | None = None,
                 *, per_service: dict[str, dict[str, Any]] | None = None, fast: bool = True,
                 **overrides: Any) -> None:  # fmt: skip
        self.fast = fast  # False: the services' default timings (a real model is slow)
        self.url = url
        self.prefix = prefix
        self.overrides = overrides
        self.per_service = per_service or {}  # e.g. each service's Redis user and password
        self.stages = stages or {}
        self.stop = asyncio.Event()
        self.tasks: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> InProcessPipeline:
        for name in PIPELINE.services:
            values = {**self.overrides, **self.per_service.get(name, {})}
            if self.fast:
                settings = settings_for(name, self.url, self.prefix, **values)
            else:
                settings = services.load(name).SETTINGS(
                    redis_url=self.url, prefix=self.prefix, **values
                )
            build = self.stages.get(name) or services.load(name).build_stage
            self.tasks.append(asyncio.create_task(serve(build, settings, self.stop)))
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.stop.set()
        await asyncio.wait_for(asyncio.gather(*self.tasks), timeout=30)


class DelegatingStage:
    """A stage that hands everything to ``inner``; a test subclass overrides what it rigs."""

    def __init__(self, inner: PipelineStage) -> None:
        self.inner = inner

    @property
    def service(self) -> str:
        return self.inner.service

    @property
    def stream(self) -> str:
        return self.inner.stream

    def decode(self, delivery: Delivery) -> Envelope:
        return self.inner.decode(delivery)

    async def ready(self) -> None:
        await self.inner.ready()

    async def aclose(self) -> None:
        await self.inner.aclose()

    async def handle(self, envelope: Envelope, delivery: Delivery) -> Outcome:
        return await self.inner.handle(envelope, delivery)


class CrashesOnceBeforeCommit(DelegatingStage):
    """The first delivery does all its work (the LLM call included), then crashes before its
    outcome is committed, as a worker killed at the wrong moment would."""

    def __init__(self, inner: PipelineStage) -> None:
        super().__init__(inner)
        self.crashed = 0

    async def handle(self, envelope: Envelope, delivery: Delivery) -> Outcome:
        outcome = await self.inner.handle(envelope, delivery)
        if not self.crashed:
            self.crashed += 1
            raise RuntimeError("crashed after the LLM call, before the commit")
        return outcome


class RejectsEverything(DelegatingStage):
    """A stage with a bad deploy: every event is dead-lettered as ``llm_error``."""

    async def handle(self, envelope: Envelope, delivery: Delivery) -> Outcome:
        raise PermanentError("triage model returned garbage", reason="llm_error")


def broken_triage(settings: BatonSettings, redis: Redis) -> PipelineStage:
    return RejectsEverything(services.load("triage").build_stage(settings, redis))


def raw_command(port: int, *lines: str) -> bytes:
    """Send inline commands on a fresh connection; the raw replies (b'' if unreachable)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall("".join(f"{line}\r\n" for line in lines).encode())
            reply = b""
            while reply.count(b"\r\n") < len(lines):
                chunk = sock.recv(4096)
                if not chunk:
                    break
                reply += chunk
            return reply
    except OSError:
        return b""

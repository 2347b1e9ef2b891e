"""Cross-cutting concerns plug into the runtime through hooks: a Worker runs with whichever it is
given (none by default), and they see every attempt, failure and commit."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import cast

import orjson
from redis.asyncio import Redis

import services
from shared.ops.embedded import EmbeddedRedis
from shared.pipeline.keys import Keys
from shared.runtime.consumer import Worker
from shared.runtime.delivery import Delivery
from shared.runtime.hooks import Hooks, NoHooks
from shared.runtime.outcome import Outcome, Publish
from tests.helpers import post, settings_for, stream_entries, wait_for


class Recording:
    """Hooks that write down what the runtime told them, and tag each publish."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def attempt(
        self, stream: str, consumer: str, delivery: Delivery
    ) -> AbstractContextManager[object]:
        return self._attempt(delivery.entry_id)

    @contextmanager
    def _attempt(self, entry_id: str) -> Iterator[None]:
        self.calls.append(("enter", entry_id))
        yield
        self.calls.append(("exit", entry_id))

    def failed(self, reason: str) -> None:
        self.calls.append(("failed", reason))

    def stamp_publishes(self, outcome: Outcome, delivery: Delivery) -> list[Publish]:
        return [
            Publish(p.stream, {**p.fields, b"hooked": b"yes"}, p.ledger) for p in outcome.publishes
        ]

    def committed(self, outcome: Outcome, commit: str) -> None:
        self.calls.append((commit, outcome.event_id))


async def run_intake(
    redis_server: EmbeddedRedis, redis: Redis, prefix: str, hooks: Hooks | None
) -> Keys:
    settings = settings_for("intake", redis_server.url, prefix)
    stage = services.load("intake").build_stage(settings, redis)
    worker = Worker(stage, settings, redis, hooks)
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    keys = Keys(prefix)
    try:
        await post(redis, keys, {"text": "My invoice is wrong", "event_id": "hooked-1"})

        async def handed_off() -> bool:
            return await redis.xlen(keys.handoffs) == 1

        await wait_for(handed_off)
    finally:
        stop.set()
        await asyncio.wait_for(running, timeout=30)
        await stage.aclose()
    return keys


async def test_hooks_wrap_every_attempt_and_see_its_commit_and_its_publishes(
    redis_server: EmbeddedRedis, redis: Redis, prefix: str
) -> None:
    hooks = Recording()
    keys = await run_intake(redis_server, redis, prefix, hooks)
    (handoff,) = await stream_entries(redis, keys.handoffs)
    assert handoff["hooked"] == b"yes"
    assert orjson.loads(handoff["envelope"])["event_id"] == "hooked-1"
    entries = cast(list[tuple[bytes, object]], await redis.xrange(keys.stream("intake")))
    posted = entries[0][0].decode()
    assert hooks.calls == [("enter", posted), ("committed", "hooked-1"), ("exit", posted)]


async def test_a_worker_with_no_hooks_publishes_what_its_stage_made(
    redis_server: EmbeddedRedis, redis: Redis, prefix: str
) -> None:
    keys = await run_intake(redis_server, redis, prefix, None)
    (handoff,) = await stream_entries(redis, keys.handoffs)
    assert set(handoff) == {"event_id", "envelope"}
    assert isinstance(NoHooks().attempt("s", "c", Delivery("s", "1-0", {})), AbstractContextManager)

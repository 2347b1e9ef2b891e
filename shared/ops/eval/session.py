"""One evaluation run: a Redis, a fresh prefix, the pipeline, the posts, the wait, the clean-up.

With ``REDIS_URL`` the run uses that server under a prefix of its own
(``baton-eval-<UTC time>-<random>``) and unlinks every ``<prefix>:*`` key afterwards (never a
FLUSHDB); without it, a throwaway embedded Redis. At most ``concurrency`` events are in flight at
once, so latencies measure the pipeline, not a queue the run built itself. An event without a
final outcome ``timeout_s`` after its post is *lost*, and a run that lost one has failed.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from redis.asyncio import Redis

from services.pipeline import PIPELINE
from shared.ops.embedded import EmbeddedRedis
from shared.ops.eval.collect import Observed, collect, submitted_event_id
from shared.ops.eval.pipeline import EvalPipeline
from shared.pipeline.keys import Keys
from shared.pipeline.settings import BatonSettings, LLMProvider, load_settings
from shared.runtime.delivery import as_text
from shared.runtime.outcome import TERMINAL_STATUSES
from shared.runtime.redis_client import connect_for, unlink_matching
from shared.service import StageFactory

POLL_S = 0.02
UNLINK_BATCH = 500

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class RunOptions:
    """Args:
    provider: ``offline`` or ``openai``; None keeps the environment's choice.
    concurrency: events in flight at once, and each service's ``concurrency``.
    timeout_s: how long an event may take from its post before it counts as lost.
    overrides: settings for every service, over the environment's.
    stages: stage factories replacing services' own (tests, experiments).
    """

    provider: LLMProvider | None = None
    concurrency: int = 8
    timeout_s: float = 120.0
    overrides: Mapping[str, Any] = field(default_factory=dict)
    stages: Mapping[str, StageFactory] = field(default_factory=dict)


@dataclass(frozen=True)
class RunResult:
    """Attributes:
    event_ids: the event id of each posted payload, in posting order.
    observed: what became of each event, by event id.
    wall_s: from the first post to the last outcome.
    """

    prefix: str
    provider: str
    models: dict[str, str]
    concurrency: int
    event_ids: list[str]
    observed: dict[str, Observed]
    started_at: float
    wall_s: float

    @property
    def lost(self) -> list[str]:
        return [e for e, o in self.observed.items() if not o.terminal]


def new_prefix(kind: str = "eval") -> str:
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    return f"baton-{kind}-{stamp}-{secrets.token_hex(3)}"


@asynccontextmanager
async def eval_redis(url: str | None) -> AsyncIterator[str]:
    """``url`` as it is, or a throwaway embedded Redis for the duration of the block."""
    if url:
        yield url
        return
    with TemporaryDirectory(prefix="baton-eval-") as folder:
        server = EmbeddedRedis(Path(folder), appendfsync=None)
        server.start()
        try:
            yield server.url
        finally:
            server.stop()


async def run_payloads(
    url: str,
    payloads: Sequence[bytes],
    options: RunOptions,
    *,
    kind: str = "eval",
    on_progress: Progress | None = None,
) -> RunResult:
    """Post ``payloads`` (raw intake payloads) to a fresh pipeline and collect their outcomes."""
    prefix = new_prefix(kind)
    keys = Keys(prefix)
    redis = connect_for(load_settings(BatonSettings, redis_url=url), max_connections=8)
    try:
        async with EvalPipeline(
            url,
            prefix,
            provider=options.provider,
            concurrency=options.concurrency,
            overrides=options.overrides,
            stages=options.stages,
        ) as pipeline:
            started, begun = time.time(), time.monotonic()
            feeder = _Feeder(redis, keys, pipeline, options, on_progress)
            event_ids, lost = await feeder.run(payloads)
            wall_s = time.monotonic() - begun
            observed = await collect(redis, keys, event_ids, lost=lost)
        return RunResult(
            prefix=prefix,
            provider=pipeline.provider,
            models=pipeline.models,
            concurrency=options.concurrency,
            event_ids=event_ids,
            observed=observed,
            started_at=started,
            wall_s=wall_s,
        )
    finally:
        await drop_prefix(redis, prefix)
        await redis.aclose()


class _Feeder:
    """Posts payloads with at most ``concurrency`` events in flight, until each has ended or
    timed out."""

    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        pipeline: EvalPipeline,
        options: RunOptions,
        on_progress: Progress | None,
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.pipeline = pipeline
        self.options = options
        self.on_progress = on_progress
        self.inflight: dict[str, float] = {}  # event id -> when it counts as lost
        self.posted: set[str] = set()
        self.lost: set[str] = set()
        self.ended = 0

    async def run(self, payloads: Sequence[bytes]) -> tuple[list[str], set[str]]:
        queue = deque(payloads)
        event_ids: list[str] = []
        while queue or self.inflight:
            while queue and len(self.inflight) < self.options.concurrency:
                event_ids.append(await self._post(queue.popleft()))
            self.pipeline.check()
            finished = await self._finished()
            now = time.monotonic()
            for event_id, deadline in list(self.inflight.items()):
                if event_id in finished or deadline < now:
                    del self.inflight[event_id]
                    self.ended += 1
                    if event_id not in finished:
                        self.lost.add(event_id)
            if self.on_progress is not None:
                self.on_progress(self.ended, len(payloads))
            if not finished:
                await asyncio.sleep(POLL_S)
        return event_ids, self.lost

    async def _post(self, payload: bytes) -> str:
        entry_id = as_text(
            await self.redis.xadd(self.keys.stream(PIPELINE.entry_stream), {"payload": payload})
        )
        event_id = submitted_event_id(payload, entry_id, self.pipeline.max_payload_bytes)
        if event_id in self.posted:
            self.ended += 1  # a repeated id is the same event: intake deduplicates it
        else:
            self.posted.add(event_id)
            self.inflight[event_id] = time.monotonic() + self.options.timeout_s
        return event_id

    async def _finished(self) -> set[str]:
        waiting = list(self.inflight)
        if not waiting:
            return set()
        async with self.redis.pipeline(transaction=False) as pipe:
            for event_id in waiting:
                pipe.hget(self.keys.run(event_id), "status")
            statuses = await pipe.execute()
        return {
            event_id
            for event_id, status in zip(waiting, statuses, strict=True)
            if status is not None and as_text(status) in TERMINAL_STATUSES
        }


async def drop_prefix(redis: Redis, prefix: str) -> int:
    """Unlink every ``<prefix>:*`` key (SCAN, never KEYS or FLUSHDB); how many there were."""
    return await unlink_matching(redis, f"{prefix}:*", UNLINK_BATCH)

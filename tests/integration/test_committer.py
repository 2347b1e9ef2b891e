"""The batch committer outlives a failing batch."""

from __future__ import annotations

import asyncio
import time

import pytest
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from shared.pipeline.keys import Keys
from shared.runtime.commit import CommitSettings, CommitStatus, Committer
from shared.runtime.delivery import as_text
from shared.runtime.outcome import Outcome, Publish, Step


def outcome(keys: Keys, event_id: str) -> Outcome:
    now = time.time()
    step = Step(stage="triage", outcome="ok", started_at=now, ended_at=now)
    return Outcome(event_id, [Publish(keys.handoffs, {b"event_id": event_id.encode()})], step)


async def test_a_batch_failing_with_a_redis_error_fails_its_waiters_and_later_batches_commit(
    redis: Redis, prefix: str
) -> None:
    keys = Keys(prefix)
    committer = Committer(redis, keys, keys.stream("triage"), CommitSettings("triage", 60, 60))
    loop = asyncio.create_task(committer.run())
    try:
        await redis.set(
            keys.stream("triage"), "not a stream"
        )  # every XACK on it now fails: WRONGTYPE
        with pytest.raises(ResponseError):
            await committer.commit("1-0", outcome(keys, "e-1"))
        await redis.delete(keys.stream("triage"))
        entry_id = await redis.xadd(keys.stream("triage"), {"x": "1"})
        await redis.xgroup_create(keys.stream("triage"), "triage", id="0")
        await redis.xreadgroup("triage", "c", {keys.stream("triage"): ">"})
        status = await committer.commit(as_text(entry_id), outcome(keys, "e-2"))
        assert status is CommitStatus.COMMITTED
        assert not loop.done()
    finally:
        loop.cancel()

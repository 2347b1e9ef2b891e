"""The benchmark's completeness audit fails a run that loses, duplicates or leaves work pending."""

from __future__ import annotations

from redis.asyncio import Redis

from services.pipeline import PIPELINE
from shared.ops.bench import audit
from shared.pipeline.keys import Keys


async def _pipeline(redis: Redis, keys: Keys) -> dict[str, bytes | str]:
    for service in PIPELINE.services:
        await redis.xgroup_create(
            keys.stream(PIPELINE.input_stream(service)), service, id="$", mkstream=True
        )
    return await audit.terminal_marks(redis, keys)


async def test_every_event_once_and_nothing_pending_is_complete(redis: Redis, prefix: str) -> None:
    keys = Keys(prefix)
    marks = await _pipeline(redis, keys)
    for event_id in ("e-1", "e-2"):
        await redis.xadd(keys.responses, {"event_id": event_id})

    result = await audit.check(redis, keys, ["e-1", "e-2"], marks, settle_s=0)

    assert result.ok, result.problems()
    assert result.ended_in == {"responses": 2, "escalations": 0, "dlq": 0}


async def test_lost_duplicated_and_pending_events_fail(redis: Redis, prefix: str) -> None:
    keys = Keys(prefix)
    marks = await _pipeline(redis, keys)
    await redis.xadd(keys.responses, {"event_id": "e-1"})
    await redis.xadd(keys.escalations, {"event_id": "e-1"})
    await redis.xadd(keys.stream("intake"), {"payload": b"{}"})
    await redis.xreadgroup("intake", "c1", {keys.stream("intake"): ">"}, count=1)

    result = await audit.check(redis, keys, ["e-1", "e-2"], marks, settle_s=0)

    assert not result.ok
    assert (result.lost, result.duplicated, result.pending) == (1, 1, 1)
    assert result.problems() == ["1 lost", "1 duplicated", "1 left pending"]
